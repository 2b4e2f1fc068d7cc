"""An opt-out always wins: the ways a STOP used to get lost, each now a behaviour.

Deliveries are real Meta shapes, signed with HMAC-SHA256 over the raw bytes.
"""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from consent.models import ConsentEvent, ConsentState, OutrankedOptOut
from consent.rules import Action, Source, Status
from consent.selectors import Reason, WhatsAppUserId, may_send
from consent.services import extend_policy_deadline
from contacts.models import Contact, IdentityChange, LikelyDuplicate
from conversation.models import OptOutReview
from tests.api.conftest import client_with_key
from tests.consent_helpers import record
from tests.factories import ContactFactory, PolicyFactory
from tests.whatsapp.helpers import ADA_WA_ID, encode, load_payload, sign, value_of, with_message
from whatsapp.models import InboundEvent, ServiceWindow, WebhookDelivery

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/consent-events/"


@pytest.fixture(autouse=True)
def _whatsapp_settings(settings):
    settings.WHATSAPP_APP_SECRET = "test-app-secret"
    settings.WHATSAPP_BACKEND = "console"


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    def _deliver(payload):
        body = encode(payload)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/webhooks/whatsapp/",
                data=body,
                content_type="application/json",
                headers={"X-Hub-Signature-256": sign(body)},
            )

    return _deliver


@pytest.fixture
def api():
    return client_with_key("consent:write", "consent:read")


def stop_from(wa_id=ADA_WA_ID, *, at=None, wamid="wamid.STOP-1", user_id=None, body="STOP"):
    payload = with_message("text_stop", at=at, id=wamid, body=body)
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["from"] = wa_id
    contact = value_of(payload)["contacts"][0]
    contact["wa_id"] = wa_id
    if user_id is None:
        contact.pop("user_id", None)
    else:
        contact["user_id"] = user_id
        value_of(payload)["messages"][0]["from_user_id"] = user_id
    return payload


def allowed(who, purpose="marketing"):
    return may_send(who, purpose).allowed


# 1 -------------------------------------------------------------------------------------


def test_1_a_same_second_stop_after_a_grant_with_milliseconds_applies(deliver, marketing_notice):
    ada = ContactFactory(phone="+447911123456", wa_id=ADA_WA_ID)
    granted_at = timezone.now().replace(microsecond=89_000) - timedelta(seconds=5)
    record(ada, Action.GRANT, notice=marketing_notice, at=granted_at)

    # Meta stamps whole seconds: the STOP reads as 89 ms *before* the grant.
    deliver(stop_from(at=granted_at.replace(microsecond=0)))

    stop = ConsentEvent.objects.get(action=Action.WITHDRAW)
    assert stop.applied and stop.status_after == Status.OPTED_OUT
    assert not allowed("+447911123456")


# 2 -------------------------------------------------------------------------------------


def test_2_a_future_dated_grant_takes_effect_now_and_hides_no_later_opt_out(api, marketing_notice):
    future = timezone.now() + timedelta(minutes=4, seconds=30)
    granted = api.post(
        EVENTS,
        {
            "phone": "+447911123456",
            "purpose": "marketing",
            "action": "grant",
            "notice": "marketing/en/1",
            "occurred_at": future.isoformat(),
        },
        format="json",
    )
    assert granted.status_code == 201

    withdrawn = api.post(
        EVENTS,
        {"phone": "+447911123456", "purpose": "marketing", "action": "withdraw"},
        format="json",
    )

    assert withdrawn.status_code == 201
    body = withdrawn.json()
    assert body["applied"] is True
    assert body["state"]["status"] == "opted_out"
    assert may_send("+447911123456", "marketing").reason == Reason.OPTED_OUT


def test_2_the_preference_centre_reports_the_state_that_resulted(client, marketing_notice):
    from preferences.links import preference_url

    ada = ContactFactory()
    record(ada, Action.GRANT, notice=marketing_notice, at=timezone.now() + timedelta(minutes=4))
    page = "/" + preference_url(ada).split("://", 1)[-1].split("/", 1)[-1]

    response = client.post(
        f"{page}change/", {"action": "withdraw", "purpose": "marketing"}, follow=True
    )

    assert response.status_code == 200
    assert ConsentState.objects.get(contact=ada).status == Status.OPTED_OUT
    assert "no longer receive" in response.content.decode()
    assert not allowed(ada)


# 3 -------------------------------------------------------------------------------------


def test_3_a_stop_stamped_far_ahead_is_recorded_clamped_never_refused(deliver):
    ContactFactory(phone="+447911123456", wa_id=ADA_WA_ID)
    stated = timezone.now() + timedelta(hours=2)

    deliver(stop_from(at=stated))

    stop = ConsentEvent.objects.get(action=Action.WITHDRAW)
    assert stop.applied
    assert int(stop.occurred_at.timestamp()) == int(stated.timestamp())  # kept as stated
    assert InboundEvent.objects.get(kind="message").state == InboundEvent.State.PROCESSED
    assert not allowed("+447911123456")


# 4 -------------------------------------------------------------------------------------


HOSTILE_NEIGHBOURS = {
    "nul": '{"from": "447911000001", "id": "wamid.BAD", "timestamp": "1", "type": "text", '
    '"text": {"body": "a\\u0000b"}}',
    "lone_surrogate": '{"from": "447911000001", "id": "wamid.BAD", "timestamp": "1", '
    '"type": "text", "text": {"body": "\\ud800"}}',
    "nan": '{"from": "447911000001", "id": "wamid.BAD", "timestamp": NaN, "type": "text"}',
    "huge_float": '{"from": "447911000001", "id": "wamid.BAD", "timestamp": 1e999}',
    "5000_digits": '{"from": "447911000001", "id": "wamid.BAD", "timestamp": ' + "9" * 5000 + "}",
    "number_item": "5",
    "null_item": "null",
}


@pytest.mark.parametrize("neighbour", HOSTILE_NEIGHBOURS.values(), ids=HOSTILE_NEIGHBOURS.keys())
def test_4_a_hostile_neighbour_never_loses_the_stop_beside_it(client, deliver, neighbour):
    ContactFactory(phone="+447911123456", wa_id=ADA_WA_ID)
    payload = stop_from()
    stop = json.dumps(value_of(payload)["messages"][0])
    raw = json.dumps(payload).replace(stop, f"{stop}, {neighbour}").encode()

    response = deliver(raw)

    assert response.status_code == 200
    assert (
        WebhookDelivery.objects.get().body.tobytes() == raw
        if hasattr(WebhookDelivery.objects.get().body, "tobytes")
        else bytes(WebhookDelivery.objects.get().body) == raw
    )
    assert ConsentEvent.objects.filter(action=Action.WITHDRAW, applied=True).count() == 1
    assert not allowed("+447911123456")


@pytest.mark.parametrize(
    "body",
    [b'{"entry": 5}', b'{"entry": [{"changes": [{"value": {"statuses": [null]}}]}]}', b"[1,2"],
    ids=["entry_is_a_number", "null_status", "not_json"],
)
def test_4_odd_shapes_are_answered_200_and_kept(deliver, body):
    assert deliver(body).status_code == 200
    assert bytes(WebhookDelivery.objects.get().body) == body


def test_4_an_unreadable_delivery_is_listed_as_a_possible_opt_out(deliver):
    deliver(b'{"entry": [' + b"[" * 5000)

    listed = InboundEvent.objects.filter(state="failed", carries_opt_out=True)
    assert listed.count() == 1


# 5 -------------------------------------------------------------------------------------


def test_5_a_stop_naming_two_records_of_one_person_opts_out_both(deliver):
    by_phone = ContactFactory(phone="+447911123456", wa_id=ADA_WA_ID)
    by_user_id = Contact.objects.create(whatsapp_user_id="GB.1349857562938475")

    deliver(stop_from(user_id="GB.1349857562938475"))

    assert not allowed(by_phone) and not allowed(by_user_id)
    assert ConsentEvent.objects.filter(action=Action.WITHDRAW, applied=True).count() == 2
    pair = LikelyDuplicate.objects.get()
    assert {pair.first_id, pair.second_id} == {by_phone.pk, by_user_id.pk}


def test_5_the_api_withdraw_naming_two_records_applies_to_each(api):
    by_phone = ContactFactory(phone="+447911123456", wa_id=ADA_WA_ID)
    by_user_id = Contact.objects.create(whatsapp_user_id="GB.77")

    response = api.post(
        EVENTS,
        {
            "phone": "+447911123456",
            "whatsapp_user_id": "GB.77",
            "purpose": "marketing",
            "action": "withdraw",
        },
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["also_recorded_for"] == [str(by_user_id.pk)]
    assert not allowed(by_phone) and not allowed(WhatsAppUserId("GB.77"))


# 6 -------------------------------------------------------------------------------------


def test_6_a_known_wa_id_that_is_no_valid_phone_is_matched_exactly(deliver):
    odd = Contact.objects.create(wa_id="972987654321", whatsapp_user_id="IL.1")
    ContactFactory(phone="+447911123456", wa_id=ADA_WA_ID)

    deliver(stop_from(wa_id="972987654321"))

    assert ConsentState.objects.get(contact=odd).status == Status.OPTED_OUT
    assert Contact.objects.count() == 2  # nobody new


def test_6_a_131050_failure_for_that_wa_id_opts_out_too(deliver):
    odd = Contact.objects.create(wa_id="972987654321")
    payload = load_payload("status_failed_131050")
    value_of(payload)["statuses"][0]["recipient_id"] = "972987654321"

    deliver(payload)

    assert ConsentState.objects.get(contact=odd, purpose="marketing").status == Status.OPTED_OUT


def test_6_an_unknown_wa_id_that_is_no_valid_phone_becomes_a_contact_that_is_opted_out(deliver):
    deliver(stop_from(wa_id="972987654321"))

    contact = Contact.objects.get(wa_id="972987654321")
    assert ConsentState.objects.get(contact=contact).status == Status.OPTED_OUT


# 7 -------------------------------------------------------------------------------------


def changed_number(old_wa_id: str, new_wa_id: str, *, wamid="wamid.SYS-1"):
    payload = load_payload("text_stop")
    value = value_of(payload)
    value.pop("contacts")  # system messages carry no contacts array
    value["messages"] = [
        {
            "from": old_wa_id,
            "id": wamid,
            "timestamp": str(int(timezone.now().timestamp())),
            "type": "system",
            "system": {
                "body": f"User Ada changed from {old_wa_id} to {new_wa_id}",
                "wa_id": new_wa_id,
                "type": "user_changed_number",
            },
        }
    ]
    return payload


def test_7_a_changed_number_moves_the_opt_out_to_the_new_number(deliver):
    ada = ContactFactory(phone="+447911123456", wa_id=ADA_WA_ID)
    record(ada, Action.WITHDRAW)

    deliver(changed_number(ADA_WA_ID, "447911223344"))

    ada.refresh_from_db()
    assert (str(ada.phone), ada.wa_id) == ("+447911223344", "447911223344")
    assert may_send("+447911223344", "marketing").reason == Reason.OPTED_OUT
    history = IdentityChange.objects.filter(contact=ada, kind="wa_id").get()
    assert (history.old_value, history.new_value) == (ADA_WA_ID, "447911223344")


def test_7_a_new_number_held_by_another_record_gets_the_opt_out(deliver, marketing_notice):
    ada = ContactFactory(phone="+447911123456", wa_id=ADA_WA_ID)
    record(ada, Action.WITHDRAW)
    other = ContactFactory(phone="+447911223344", wa_id="447911223344")
    record(other, Action.GRANT, notice=marketing_notice, at=timezone.now() - timedelta(days=1))

    deliver(changed_number(ADA_WA_ID, "447911223344"))

    assert may_send("+447911223344", "marketing").reason == Reason.OPTED_OUT
    assert LikelyDuplicate.objects.filter(resolution="pending").count() == 1


def test_7_system_messages_never_open_the_service_window(deliver):
    ContactFactory(phone="+447911123456", wa_id=ADA_WA_ID)

    deliver(changed_number(ADA_WA_ID, "447911223344"))

    assert not ServiceWindow.objects.exists()


# 8 -------------------------------------------------------------------------------------


def test_8_legacy_cannot_outlast_the_policy_deadline(api):
    PolicyFactory()

    response = api.post(
        EVENTS,
        {
            "phone": "+447911123456",
            "purpose": "marketing",
            "action": "legacy",
            "expires_at": "9999-12-31T00:00:00Z",
        },
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "expires_after_deadline"
    assert response.json()["errors"][0]["attr"] == "expires_at"
    assert not ConsentEvent.objects.exists()


def test_8_staff_extend_the_policy_and_legacy_consent_follows_on_the_record(admin_user):
    policy = PolicyFactory()
    ada = ContactFactory()
    record(ada, Action.LEGACY)
    later = policy.deadline + timedelta(days=30)

    change = extend_policy_deadline(
        policy=policy, new_deadline=later, reason="board decision", actor=admin_user
    )

    assert ConsentState.objects.get(contact=ada).expires_at == later
    assert (change.old_deadline, change.new_deadline, change.changed_by) == (
        policy.deadline,
        later,
        admin_user,
    )


# Also ----------------------------------------------------------------------------------


def test_a_stop_typed_inside_a_group_goes_to_review_not_to_the_ledger(deliver):
    ContactFactory(phone="+447911123456", wa_id=ADA_WA_ID)
    payload = stop_from()
    value_of(payload)["messages"][0]["group_id"] = "120363042323873478@g.us"

    deliver(payload)

    assert not ConsentEvent.objects.exists()
    assert OptOutReview.objects.get().decision == OptOutReview.Decision.PENDING


def test_an_outranked_opt_out_is_listed_beside_the_grant_that_outranked_it(marketing_notice):
    ada = ContactFactory()
    grant = record(ada, Action.GRANT, notice=marketing_notice)

    stop = record(
        ada, Action.WITHDRAW, source=Source.WHATSAPP_KEYWORD, at=grant.recorded_at - timedelta(1)
    )

    assert not stop.applied
    listed = OutrankedOptOut.objects.get()
    assert (listed.event, listed.outranked_by) == (stop, grant)
    assert listed.resolution == OutrankedOptOut.Resolution.PENDING


def test_a_failed_opt_out_item_is_listed_and_retried_with_backoff(deliver, monkeypatch):
    from conversation import handlers
    from whatsapp.services import MAX_ATTEMPTS, process_stragglers

    def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")

    ContactFactory(phone="+447911123456", wa_id=ADA_WA_ID)
    monkeypatch.setattr(handlers, "record_opt_out", broken)

    deliver(stop_from())

    item = InboundEvent.objects.get(kind="message")
    assert item.state == "failed" and item.carries_opt_out and item.retry_at is not None
    assert item.attempts < MAX_ATTEMPTS

    monkeypatch.undo()
    InboundEvent.objects.filter(pk=item.pk).update(retry_at=timezone.now())
    process_stragglers()

    item.refresh_from_db()
    assert item.state == "processed"
    assert not allowed("+447911123456")


def test_only_messages_a_person_sent_open_the_window(deliver):
    ContactFactory(phone="+447911123456", wa_id=ADA_WA_ID)

    deliver(stop_from(body="hello"))

    assert ServiceWindow.objects.filter(recipient=ADA_WA_ID).exists()


def test_merging_two_records_keeps_both_ledgers_and_the_most_restrictive_state(
    admin_user, marketing_notice
):
    from consent.selectors import verify_contact_ledger
    from consent.services import merge_contacts

    survivor = ContactFactory()
    record(survivor, Action.GRANT, notice=marketing_notice)
    duplicate = Contact.objects.create(whatsapp_user_id="GB.9")
    record(duplicate, Action.WITHDRAW)

    merge_contacts(duplicate=duplicate, survivor=survivor, actor=admin_user)

    assert not allowed(survivor)
    assert may_send(WhatsAppUserId("GB.9"), "marketing").reason == Reason.OPTED_OUT
    assert verify_contact_ledger(survivor).valid and verify_contact_ledger(duplicate).valid
    duplicate.refresh_from_db()
    assert duplicate.merged_into == survivor


def test_an_unknown_phone_opting_out_over_the_api_is_created_and_opted_out(api):
    response = api.post(
        EVENTS,
        {"phone": "+447400123456", "purpose": "marketing", "action": "withdraw"},
        format="json",
    )
    assert response.status_code == 201
    assert not allowed("+447400123456")
    assert may_send("+447400123456", "marketing").reason == Reason.OPTED_OUT
