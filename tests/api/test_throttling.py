"""Rate limits per API key answer 429 with Retry-After."""

import pytest

from api.scopes import SCOPES
from tests.api.conftest import assert_error, client_with_key

URL = "/api/v1/eligibility/?phone=%2B447911123456&purpose=marketing"


@pytest.fixture
def low_rates(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "3/minute", "api_key_bulk": "1/minute"},
    }


def test_the_request_over_the_rate_is_429_with_retry_after(api_client, low_rates):
    for _ in range(3):
        assert api_client.get(URL).status_code == 200
    response = api_client.get(URL)
    assert_error(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60


def test_each_key_has_its_own_allowance(api_client, low_rates):
    for _ in range(4):
        api_client.get(URL)
    other = client_with_key(*SCOPES, name="other")
    assert other.get(URL).status_code == 200


def test_bulk_has_its_own_rate(api_client, low_rates):
    body = {"purpose": "marketing", "phones": ["+447911123456"]}
    assert api_client.post("/api/v1/eligibility/bulk/", body, format="json").status_code == 200
    response = api_client.post("/api/v1/eligibility/bulk/", body, format="json")
    assert_error(response, 429, "throttled")
    assert api_client.get(URL).status_code == 200
