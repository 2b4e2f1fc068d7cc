"""/api/v1/notices/: the published wording an integration shows and cites."""

from tests.api.conftest import assert_error
from tests.factories import NoticeFactory

URL = "/api/v1/notices/"


def test_published_notices_with_the_current_version_marked(api_client):
    NoticeFactory(purpose="marketing", language="en", version=1, text="Offers? v1")
    NoticeFactory(purpose="marketing", language="en", version=2, text="Offers? v2")
    NoticeFactory(purpose="marketing", language="en", version=3, published_at=None)
    body = api_client.get(URL, {"purpose": "marketing", "language": "en"}).json()
    by_ref = {n["ref"]: n for n in body["results"]}
    assert set(by_ref) == {"marketing/en/1", "marketing/en/2"}
    assert by_ref["marketing/en/2"]["current"] is True
    assert by_ref["marketing/en/1"]["current"] is False
    assert by_ref["marketing/en/2"] == {
        "ref": "marketing/en/2",
        "purpose": "marketing",
        "language": "en",
        "version": 2,
        "text": "Offers? v2",
        "published_at": by_ref["marketing/en/2"]["published_at"],
        "current": True,
    }


def test_notices_filter_by_purpose_and_language(api_client):
    NoticeFactory(purpose="marketing", language="en")
    NoticeFactory(purpose="marketing", language="es")
    NoticeFactory(purpose="service", language="en")
    refs = [n["ref"] for n in api_client.get(URL, {"language": "es"}).json()["results"]]
    assert refs == ["marketing/es/1"]
    refs = [n["ref"] for n in api_client.get(URL, {"purpose": "service"}).json()["results"]]
    assert refs == ["service/en/1"]


def test_an_unknown_purpose_is_400(api_client):
    assert_error(api_client.get(URL, {"purpose": "sms"}), 400, "invalid_choice", "purpose")


def test_notices_need_consent_read(make_client):
    assert_error(make_client("contacts:read").get(URL), 403, "permission_denied")
