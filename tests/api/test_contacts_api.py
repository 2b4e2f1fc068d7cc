"""/api/v1/contacts/: upsert by phone, list with filters, read, change, erase."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.rules import Action
from contacts.models import Contact
from preferences.links import contact_for_token
from tests.api.conftest import assert_error
from tests.consent_helpers import record
from tests.factories import ContactFactory

URL = "/api/v1/contacts/"


def test_upsert_creates_a_contact_with_201(api_client):
    # when
    response = api_client.post(
        URL,
        {
            "phone": "07911 123456",
            "name": "Ada",
            "language": "en",
            "external_id": "crm-42",
            "tags": ["vip"],
            "attributes": {"city": "Leeds"},
        },
        format="json",
    )
    # then
    assert response.status_code == 201
    body = response.json()
    assert body["phone"] == "+447911123456"
    assert body["wa_id"] == "447911123456"
    assert body["name"] == "Ada"
    assert body["external_id"] == "crm-42"
    assert body["tags"] == ["vip"]
    assert body["attributes"] == {"city": "Leeds"}
    assert body["consents"]["marketing"] == {
        "status": "none",
        "since": None,
        "source": None,
        "notice": None,
        "expires_at": None,
        "paused_until": None,
        "topics": {},
    }
    assert set(body) >= {"id", "whatsapp_user_id", "preference_url", "created_at", "updated_at"}
    assert Contact.objects.get(pk=body["id"]).name == "Ada"


def test_upsert_of_a_known_phone_updates_only_the_fields_given_with_200(api_client):
    contact = ContactFactory(phone="+447911123456", name="Ada", language="es")
    response = api_client.post(URL, {"phone": "+44 7911 123456", "name": "Ada L."}, format="json")
    assert response.status_code == 200
    assert response.json()["id"] == str(contact.pk)
    contact.refresh_from_db()
    assert (contact.name, contact.language) == ("Ada L.", "es")


@pytest.mark.parametrize("phone", ["12", "not a phone", "+44791112345678901", "", None, 447911])
def test_upsert_with_an_invalid_phone_is_400_naming_the_field(api_client, phone):
    response = api_client.post(URL, {"phone": phone}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "phone"
    assert not Contact.objects.exists()


def test_a_phone_with_letters_is_400_naming_the_field_and_the_rule(api_client):
    response = api_client.post(URL, {"phone": "+44 7911 ABC123"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "invalid_phone",
            "detail": "'+44 7911 ABC123' is not a valid phone number. "
            "A phone number has only digits, spaces and + ( ) - .",
            "attr": "phone",
        }
    ]
    assert not Contact.objects.exists()


def test_upsert_without_a_phone_is_400(api_client):
    assert_error(api_client.post(URL, {"name": "Ada"}, format="json"), 400, "required", "phone")


def test_upsert_refuses_an_external_id_another_contact_holds(api_client):
    ContactFactory(phone="+447911000001", external_id="crm-1")
    response = api_client.post(
        URL, {"phone": "+447911000002", "external_id": "crm-1"}, format="json"
    )
    assert_error(response, 400, "unique", "external_id")


def test_upsert_refuses_bad_tags(api_client):
    response = api_client.post(
        URL, {"phone": "+447911000002", "tags": ["no spaces"]}, format="json"
    )
    assert_error(response, 400, "invalid", "tags.0")


def test_the_contact_body_shows_consent_per_purpose(api_client, marketing_notice):
    contact = ContactFactory()
    record(contact, Action.GRANT, "marketing", notice=marketing_notice)
    body = api_client.get(f"{URL}{contact.pk}/").json()
    assert body["consents"]["marketing"]["status"] == "opted_in"
    assert body["consents"]["marketing"]["notice"] == "marketing/en/1"
    assert body["consents"]["marketing"]["source"] == "api"
    assert body["consents"]["marketing"]["since"] is not None
    assert body["consents"]["service"]["status"] == "none"


def test_the_contact_body_has_a_working_preference_link(api_client, settings):
    contact = ContactFactory()
    url = api_client.get(f"{URL}{contact.pk}/").json()["preference_url"]
    assert url.startswith(settings.SITE_URL + "/preferences/")
    token = url.rstrip("/").rsplit("/", 1)[-1]
    assert contact_for_token(token) == contact


def test_list_is_cursor_paginated_newest_first(api_client):
    first, second = ContactFactory(), ContactFactory()
    body = api_client.get(URL, {"page_size": 1}).json()
    assert [c["id"] for c in body["results"]] == [str(second.pk)]
    assert body["previous"] is None
    following = api_client.get(body["next"]).json()
    assert [c["id"] for c in following["results"]] == [str(first.pk)]


def test_list_filters_by_phone_in_any_format(api_client):
    ada = ContactFactory(phone="+447911123456")
    ContactFactory(phone="+447911123457")
    body = api_client.get(URL, {"phone": "07911123456"}).json()
    assert [c["id"] for c in body["results"]] == [str(ada.pk)]
    unencoded_plus = api_client.get(URL + "?phone= 447911123456").json()
    assert [c["id"] for c in unencoded_plus["results"]] == [str(ada.pk)]


def test_list_with_an_invalid_phone_filter_is_400(api_client):
    assert_error(api_client.get(URL, {"phone": "nope"}), 400, "invalid_phone", "phone")


def test_list_filters_by_tag(api_client):
    vip = ContactFactory()
    ContactFactory()
    api_client.patch(f"{URL}{vip.pk}/", {"tags": ["vip"]}, format="json")
    body = api_client.get(URL, {"tag": "vip"}).json()
    assert [c["id"] for c in body["results"]] == [str(vip.pk)]


def test_list_filters_by_consent_status(api_client, marketing_notice, service_notice):
    opted_in, opted_out, untouched = ContactFactory(), ContactFactory(), ContactFactory()
    record(opted_in, Action.GRANT, "marketing", notice=marketing_notice)
    record(opted_out, Action.WITHDRAW, "marketing")
    record(untouched, Action.GRANT, "service", notice=service_notice)

    def ids(**params):
        return {c["id"] for c in api_client.get(URL, params).json()["results"]}

    assert ids(marketing="opted_in") == {str(opted_in.pk)}
    assert ids(marketing="opted_out") == {str(opted_out.pk)}
    assert ids(marketing="none") == {str(untouched.pk)}
    assert ids(service="opted_in") == {str(untouched.pk)}
    assert ids(service="none", marketing="opted_in") == {str(opted_in.pk)}


def test_list_with_an_unknown_status_is_400(api_client):
    assert_error(api_client.get(URL, {"marketing": "maybe"}), 400, "invalid_choice", "marketing")


def test_list_filters_by_updated_since(api_client):
    old, recent = ContactFactory(), ContactFactory()
    Contact.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=3))
    since = (timezone.now() - timedelta(days=1)).isoformat()
    body = api_client.get(URL, {"updated_since": since}).json()
    assert [c["id"] for c in body["results"]] == [str(recent.pk)]


def test_list_query_count_does_not_grow_with_contacts(
    api_client, django_assert_max_num_queries, marketing_notice
):
    for _ in range(20):
        record(ContactFactory(), Action.GRANT, "marketing", notice=marketing_notice)
    api_client.get(URL)  # the key's last use is recorded once a minute
    # The page, its count, tags, states, topic states, and the topics offered (once).
    with django_assert_max_num_queries(7):
        assert len(api_client.get(URL).json()["results"]) == 20


def test_retrieve_unknown_is_404(api_client):
    response = api_client.get(f"{URL}3f2504e0-4f89-11d3-9a0c-0305e82c3301/")
    assert_error(response, 404, "not_found")


def test_patch_changes_only_the_fields_given(api_client):
    contact = ContactFactory(name="Ada", language="en")
    response = api_client.patch(
        f"{URL}{contact.pk}/", {"language": "es", "attributes": {"tier": 2}}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["language"] == "es"
    contact.refresh_from_db()
    assert (contact.name, contact.language, contact.attributes) == ("Ada", "es", {"tier": 2})


def test_patch_cannot_change_the_phone(api_client):
    contact = ContactFactory(phone="+447911123456")
    response = api_client.patch(f"{URL}{contact.pk}/", {"phone": "+447911000000"}, format="json")
    assert_error(response, 400, "read_only", "phone")
    contact.refresh_from_db()
    assert contact.phone == "+447911123456"


def test_patch_unknown_is_404(api_client):
    response = api_client.patch(f"{URL}3f2504e0-4f89-11d3-9a0c-0305e82c3301/", {}, format="json")
    assert_error(response, 404, "not_found")


def test_put_is_405(api_client):
    contact = ContactFactory()
    assert_error(
        api_client.put(f"{URL}{contact.pk}/", {}, format="json"), 405, "method_not_allowed"
    )


def test_delete_erases_the_person_and_keeps_the_ledger(api_client):
    # given
    contact = ContactFactory(
        phone="+447911123456", name="Ada", external_id="crm-9", attributes={"city": "Leeds"}
    )
    record(contact, Action.WITHDRAW, "marketing")
    # when
    response = api_client.delete(f"{URL}{contact.pk}/")
    # then
    assert response.status_code == 204
    contact.refresh_from_db()
    assert contact.erased_at is not None
    assert (contact.phone, contact.name, contact.external_id, contact.attributes) == (
        None,
        "",
        None,
        {},
    )
    # the opt-out, and the untouched service and calls purposes suppressed at erasure
    assert contact.consent_events.count() == 3
    assert_error(api_client.get(f"{URL}{contact.pk}/"), 404, "not_found")
    assert api_client.get(URL).json()["results"] == []
    eligibility = api_client.get(
        "/api/v1/eligibility/", {"phone": "+447911123456", "purpose": "marketing"}
    ).json()
    assert (eligibility["allowed"], eligibility["reason"]) == (False, "opted_out")


def test_an_erased_number_that_comes_back_is_still_opted_out(api_client):
    contact = ContactFactory(phone="+447911123456")
    record(contact, Action.WITHDRAW, "marketing")
    api_client.delete(f"{URL}{contact.pk}/")
    # when
    response = api_client.post(URL, {"phone": "+447911123456", "name": "Ada"}, format="json")
    # then: a new contact (the erased one stays erased), opted out, with a working link
    assert response.status_code == 201
    body = response.json()
    assert body["id"] != str(contact.pk)
    assert body["consents"]["marketing"]["status"] == "opted_out"
    assert api_client.get(body["preference_url"]).status_code == 200


def test_delete_unknown_is_404(api_client):
    response = api_client.delete(f"{URL}3f2504e0-4f89-11d3-9a0c-0305e82c3301/")
    assert_error(response, 404, "not_found")


def test_updated_since_accepts_any_iso_offset(api_client):
    # ISO 8601 allows offsets PostgreSQL refuses (beyond ±15:59): still an answer, not a 500.
    ContactFactory()
    response = api_client.get(URL, {"updated_since": "2000-01-15T05:17:45-16:59"})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1
