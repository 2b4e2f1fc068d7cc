"""/api/v1/consent-events/: recording consent and reading the ledger."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.models import ConsentEvent
from consent.rules import Action
from consent.selectors import may_send
from contacts.models import Contact
from tests.api.conftest import assert_error
from tests.consent_helpers import record
from tests.factories import ContactFactory, NoticeFactory, PolicyFactory

URL = "/api/v1/consent-events/"


def grant(phone="+447911123456", **extra):
    return {
        "phone": phone,
        "purpose": "marketing",
        "action": "grant",
        "notice": "marketing/en/1",
        **extra,
    }


def test_a_grant_is_recorded_with_its_evidence(api_client, marketing_notice):
    contact = ContactFactory(phone="+447911123456")
    # when
    response = api_client.post(
        URL,
        grant(
            source="web_form",
            occurred_at="2026-11-20T10:00:00Z",
            evidence={
                "ip": "203.0.113.9",
                "user_agent": "Mozilla/5.0",
                "page_url": "https://shop.example/signup",
                "wamid": None,
                "note": None,
            },
        ),
        format="json",
    )
    # then
    assert response.status_code == 201
    body = response.json()
    event = ConsentEvent.objects.get()
    assert body["id"] == str(event.pk)
    assert body["contact"] == str(contact.pk)
    assert body["phone"] == "+447911123456"
    assert (body["purpose"], body["action"], body["source"]) == ("marketing", "grant", "web_form")
    assert body["notice"] == "marketing/en/1"
    assert body["occurred_at"].startswith("2026-11-20T10:00:00")
    assert body["recorded_at"]
    assert body["evidence"]["ip"] == "203.0.113.9"
    assert body["evidence"]["page_url"] == "https://shop.example/signup"
    assert body["prev_hash"] is None
    assert body["hash"] == event.hash
    assert body["status_after"] == "opted_in"
    assert event.context["api_key"] == api_client.api_key.prefix
    assert may_send(contact, "marketing").allowed


def test_source_defaults_to_api_and_occurred_at_to_now(api_client, marketing_notice):
    before = timezone.now()
    body = api_client.post(URL, grant(), format="json").json()
    assert body["source"] == "api"
    assert ConsentEvent.objects.get().occurred_at >= before


def test_the_chain_links_each_event_to_the_previous(api_client, marketing_notice):
    first = api_client.post(URL, grant(), format="json").json()
    second = api_client.post(
        URL,
        {"phone": "+447911123456", "purpose": "marketing", "action": "withdraw"},
        format="json",
    ).json()
    assert second["prev_hash"] == first["hash"]
    assert second["status_after"] == "opted_out"


def test_an_unknown_phone_becomes_a_contact_so_an_opt_out_is_never_lost(api_client):
    response = api_client.post(
        URL,
        {"phone": "07911 123456", "purpose": "marketing", "action": "withdraw"},
        format="json",
    )
    assert response.status_code == 201
    contact = Contact.objects.get()
    assert contact.phone == "+447911123456"
    assert may_send("+447911123456", "marketing").reason == "opted_out"


def test_a_person_known_only_by_business_scoped_id(api_client):
    response = api_client.post(
        URL,
        {"whatsapp_user_id": "GB.1349", "purpose": "marketing", "action": "withdraw"},
        format="json",
    )
    assert response.status_code == 201
    assert Contact.objects.get().whatsapp_user_id == "GB.1349"


@pytest.mark.parametrize("action", ["grant", "request"])
def test_grant_and_request_without_a_notice_are_400(api_client, action):
    response = api_client.post(
        URL, {"phone": "+447911123456", "purpose": "marketing", "action": action}, format="json"
    )
    assert_error(response, 400, "notice_required", "notice")
    assert not ConsentEvent.objects.exists()


def test_a_notice_that_does_not_exist_is_400(api_client, marketing_notice):
    response = api_client.post(URL, grant(notice="marketing/en/9"), format="json")
    assert_error(response, 400, "notice_required", "notice")


def test_an_unpublished_notice_is_400(api_client):
    NoticeFactory(purpose="marketing", language="en", version=1, published_at=None)
    response = api_client.post(URL, grant(), format="json")
    assert_error(response, 400, "notice_required", "notice")


def test_a_notice_of_another_purpose_is_400(api_client, service_notice):
    response = api_client.post(URL, grant(notice="service/en/1"), format="json")
    assert_error(response, 400, "notice_required", "notice")


def test_more_than_five_minutes_in_the_future_is_400(api_client, marketing_notice):
    ahead = (timezone.now() + timedelta(minutes=6)).isoformat()
    response = api_client.post(URL, grant(occurred_at=ahead), format="json")
    assert_error(response, 400, "occurred_in_future", "occurred_at")


def test_a_little_clock_skew_is_accepted(api_client, marketing_notice):
    ahead = (timezone.now() + timedelta(minutes=4)).isoformat()
    assert api_client.post(URL, grant(occurred_at=ahead), format="json").status_code == 201


def test_an_illegal_transition_is_409_with_the_current_status(api_client):
    contact = ContactFactory(phone="+447911123456")
    record(contact, Action.WITHDRAW, "marketing")
    response = api_client.post(
        URL,
        {
            "phone": "+447911123456",
            "purpose": "marketing",
            "action": "legacy",
            "expires_at": (timezone.now() + timedelta(days=30)).isoformat(),
        },
        format="json",
    )
    body = assert_error(response, 409, "illegal_transition")
    assert body["errors"][0]["current_status"] == "opted_out"
    assert contact.consent_events.count() == 1


def test_a_refused_event_leaves_no_new_contact(api_client):
    response = api_client.post(
        URL,
        {
            "phone": "+447911123456",
            "purpose": "marketing",
            "action": "pause",
            "paused_until": (timezone.now() + timedelta(days=7)).isoformat(),
        },
        format="json",
    )
    body = assert_error(response, 409, "illegal_transition")
    assert body["errors"][0]["current_status"] == "none"
    assert not Contact.objects.exists()


@pytest.mark.parametrize("known", [True, False])
def test_expire_is_the_systems_alone(api_client, known, marketing_notice):
    if known:
        record(ContactFactory(phone="+447911123456"), Action.GRANT, "marketing")
    response = api_client.post(
        URL, {"phone": "+447911123456", "purpose": "marketing", "action": "expire"}, format="json"
    )
    body = assert_error(response, 409, "illegal_transition")
    assert body["errors"][0]["current_status"] == ("opted_in" if known else "none")
    assert ConsentEvent.objects.count() == (1 if known else 0)


def test_legacy_takes_the_active_policys_deadline(api_client):
    policy = PolicyFactory()
    response = api_client.post(
        URL,
        {"phone": "+447911123456", "purpose": "marketing", "action": "legacy", "source": "api"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["expires_at"] == policy.deadline.isoformat().replace("+00:00", "Z")


def test_legacy_without_a_deadline_or_a_policy_is_400(api_client):
    response = api_client.post(
        URL, {"phone": "+447911123456", "purpose": "marketing", "action": "legacy"}, format="json"
    )
    assert_error(response, 400, "expires_at_required", "expires_at")


def test_a_pause_needs_an_end(api_client, marketing_notice):
    api_client.post(URL, grant(), format="json")
    response = api_client.post(
        URL, {"phone": "+447911123456", "purpose": "marketing", "action": "pause"}, format="json"
    )
    assert_error(response, 400, "until_required", "paused_until")


@pytest.mark.parametrize(
    ("field", "value", "attr"),
    [
        ("purpose", "sms", "purpose"),
        ("action", "maybe", "action"),
        ("source", "system", "source"),
        ("phone", "12", "phone"),
        ("occurred_at", "yesterday", "occurred_at"),
        ("evidence", {"ip": "999.1.1.1"}, "evidence.ip"),
        ("evidence", {"page_url": "not a url"}, "evidence.page_url"),
    ],
)
def test_invalid_fields_are_400_naming_the_field(api_client, marketing_notice, field, value, attr):
    response = api_client.post(URL, grant(**{field: value}), format="json")
    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert attr in [e["attr"] for e in response.json()["errors"]]
    assert not ConsentEvent.objects.exists()


def test_no_phone_and_no_user_id_is_400(api_client):
    response = api_client.post(URL, {"purpose": "marketing", "action": "withdraw"}, format="json")
    assert_error(response, 400, "required", "phone")


def test_an_old_event_is_kept_but_changes_nothing(api_client, marketing_notice):
    api_client.post(URL, grant(), format="json")
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()
    response = api_client.post(
        URL,
        {
            "phone": "+447911123456",
            "purpose": "marketing",
            "action": "withdraw",
            "occurred_at": yesterday,
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["applied"] is False
    assert response.json()["status_after"] == "opted_in"


def test_the_ledger_lists_oldest_first(api_client):
    contact = ContactFactory()
    now = timezone.now()
    late = record(contact, Action.WITHDRAW, "service", at=now - timedelta(hours=1))
    early = record(ContactFactory(), Action.WITHDRAW, "marketing", at=now - timedelta(days=2))
    body = api_client.get(URL).json()
    assert [e["id"] for e in body["results"]] == [str(early.pk), str(late.pk)]
    assert set(body) == {"next", "previous", "results"}


def test_the_ledger_filters(api_client):
    ada = ContactFactory(phone="+447911123456")
    bob = ContactFactory(phone="+447911123457")
    now = timezone.now()
    old = record(ada, Action.WITHDRAW, "marketing", at=now - timedelta(days=3))
    new = record(ada, Action.WITHDRAW, "service", at=now - timedelta(hours=1))
    record(bob, Action.WITHDRAW, "marketing")

    def ids(**params):
        return [e["id"] for e in api_client.get(URL, params).json()["results"]]

    assert ids(phone="07911 123456") == [str(old.pk), str(new.pk)]
    assert ids(contact=str(ada.pk)) == [str(old.pk), str(new.pk)]
    assert ids(contact=str(ada.pk), purpose="service") == [str(new.pk)]
    assert ids(phone="+447911123456", since=(now - timedelta(days=1)).isoformat()) == [str(new.pk)]


def test_the_ledger_refuses_a_bad_filter(api_client):
    assert_error(api_client.get(URL, {"phone": "nope"}), 400, "invalid_phone", "phone")
    assert_error(api_client.get(URL, {"contact": "nope"}), 400, "invalid", "contact")


def test_one_event_can_be_read(api_client):
    event = record(ContactFactory(), Action.WITHDRAW, "marketing")
    assert api_client.get(f"{URL}{event.pk}/").json()["hash"] == event.hash


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_events_are_never_changed_or_deleted(api_client, method):
    event = record(ContactFactory(), Action.WITHDRAW, "marketing")
    response = getattr(api_client, method)(f"{URL}{event.pk}/", {}, format="json")
    assert_error(response, 405, "method_not_allowed")
    assert ConsentEvent.objects.get().hash == event.hash


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_the_ledger_itself_refuses_changes(api_client, method):
    response = getattr(api_client, method)(URL, {}, format="json")
    assert_error(response, 405, "method_not_allowed")


def test_recording_needs_consent_write(make_client, marketing_notice):
    reader = make_client("consent:read")
    assert_error(reader.post(URL, grant(), format="json"), 403, "permission_denied")
    assert reader.get(URL).status_code == 200
