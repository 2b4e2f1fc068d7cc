import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from api.models import ApiKey
from api.scopes import SCOPES


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # Throttle counters live in the cache; every test starts with none.
    cache.clear()
    yield
    cache.clear()


def client_with_key(*scopes: str, name: str = "shop backend") -> APIClient:
    api_key, key = ApiKey.objects.create_key(name=name, scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    client.api_key = api_key
    client.raw_key = key
    return client


@pytest.fixture
def make_client(db):
    return client_with_key


@pytest.fixture
def api_client(db) -> APIClient:
    """An integration holding every scope."""
    return client_with_key(*SCOPES)


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


def assert_error(response, status_code: int, code: str, attr: str | None = None) -> dict:
    """The response is the API's one JSON error shape with this code (and attr)."""
    assert response.status_code == status_code, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"type", "errors"}
    expected_type = (
        "server_error"
        if status_code >= 500
        else "validation_error"
        if status_code == 400 and attr is not None
        else body["type"]
    )
    assert body["type"] == expected_type
    codes = [(e["code"], e["attr"]) for e in body["errors"]]
    assert (code, attr) in codes, codes
    return body
