"""Every failure under /api/ answers the one JSON error shape, never HTML or a traceback."""

import json

import pytest
from django.http import HttpResponse, HttpResponseServerError
from django.test import RequestFactory
from rest_framework.test import APIClient

from api.middleware import ApiErrorMiddleware
from tests.api.conftest import assert_error


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_url_is_a_json_404(api_client, settings, debug):
    settings.DEBUG = debug
    assert_error(api_client.get("/api/v1/no-such-thing/"), 404, "not_found")


def test_an_unknown_contact_is_a_json_404(api_client):
    response = api_client.get("/api/v1/contacts/7d0b7a52-3a4c-4d7e-9a39-5d1f1c2b7e11/")
    assert_error(response, 404, "not_found")


def test_a_malformed_id_is_a_json_404(api_client):
    assert_error(api_client.get("/api/v1/contacts/not-a-uuid/"), 404, "not_found")


def test_a_wrong_method_is_405(api_client):
    assert_error(
        api_client.put("/api/v1/eligibility/", {}, format="json"), 405, "method_not_allowed"
    )


def test_a_body_that_is_not_json_is_415(api_client):
    response = api_client.post(
        "/api/v1/consent-events/", "phone=1", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, "unsupported_media_type")


def test_malformed_json_is_400(api_client):
    response = api_client.post(
        "/api/v1/consent-events/", "{not json", content_type="application/json"
    )
    assert_error(response, 400, "parse_error")


def test_a_body_over_one_mib_is_413_and_nothing_is_read(api_client):
    big = json.dumps({"purpose": "marketing", "phones": ["+447911123456"] * 80_000})
    assert len(big) > 1024 * 1024
    response = api_client.post("/api/v1/eligibility/bulk/", big, content_type="application/json")
    assert_error(response, 413, "payload_too_large")


def test_a_body_just_under_the_limit_is_read(api_client):
    phones = ["+447911123456"] * 9_000
    response = api_client.post(
        "/api/v1/eligibility/bulk/", {"purpose": "marketing", "phones": phones}, format="json"
    )
    assert response.status_code == 200


def test_a_crash_in_a_view_is_a_json_500_without_traceback(db, monkeypatch):
    # given
    from tests.api.conftest import client_with_key

    client = client_with_key("consent:read")
    client.raise_request_exception = False

    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("consent.api.views.may_send_to_phone", explode)
    # when
    response = client.get("/api/v1/eligibility/?phone=%2B447911123456&purpose=marketing")
    # then
    body = assert_error(response, 500, "error")
    assert body["type"] == "server_error"
    assert "secret internals" not in response.content.decode()


@pytest.mark.parametrize("debug", [False, True])
def test_a_crash_outside_drf_is_json_too(debug, settings):
    settings.DEBUG = debug
    request = RequestFactory().get("/api/v1/anything/")
    middleware = ApiErrorMiddleware(lambda r: HttpResponseServerError("<h1>Traceback …</h1>"))
    response = middleware(request)
    assert response.status_code == 500
    assert json.loads(response.content)["type"] == "server_error"
    assert b"Traceback" not in response.content


def test_pages_outside_the_api_keep_their_html(settings):
    request = RequestFactory().get("/admin/nowhere/")
    page = HttpResponse("<h1>Not found</h1>", status=404)
    assert ApiErrorMiddleware(lambda r: page)(request) is page


def test_the_swagger_ui_is_served(client, db):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_the_schema_is_served(client, db):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/v1/eligibility/" in schema["paths"]
    assert "ApiKeyAuth" in schema["components"]["securitySchemes"]


def test_no_html_even_for_a_browser_asking_for_it(db):
    client = APIClient()
    response = client.get("/api/v1/eligibility/?purpose=marketing", HTTP_ACCEPT="text/html")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Api-Key"
