"""call_permission_reply through the signed webhook: once per message, an unknown sender is
never lost, an accept names the wording of our request (none published: nothing granted),
lasts Meta's temporary window when it names no end, and a failed reject is listed for staff
as a possible opt-out. Payloads: pywa's `call_permission_update.json`
(tests/whatsapp/fixtures/ORIGINS.md), changed per test as each says."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consent.models import ConsentEvent
from consent.selectors import may_send
from contacts.models import Contact
from tests.factories import NoticeFactory
from whatsapp.handlers import may_carry_opt_out
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def calls_notice(db):
    return NoticeFactory(purpose="calls", text="May Demo Shop call you on WhatsApp?")


def reply(name: str, **changes) -> dict:
    payload = json.loads((FIXTURES / f"{name}.json").read_text())
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["interactive"]["call_permission_reply"].update(changes)
    return payload


def message_of(payload: dict) -> dict:
    return payload["entry"][0]["changes"][0]["value"]["messages"][0]


def test_the_same_reply_delivered_twice_is_recorded_once(deliver, ada, calls_notice):
    payload = reply("call_permission_reply_accept")

    deliver(payload)
    deliver(payload)

    assert ConsentEvent.objects.filter(purpose="calls").count() == 1


def test_a_reject_from_someone_unknown_creates_them_with_calls_withdrawn(deliver):
    deliver(reply("call_permission_reply_reject"))

    contact = Contact.objects.get(wa_id="447911123456")
    assert may_send(contact, "calls").reason == "opted_out"
    assert may_send(contact, "marketing").reason == "no_consent"


def test_an_accept_naming_no_end_lasts_seven_days_from_the_reply(deliver, ada, calls_notice):
    payload = reply("call_permission_reply_accept")
    del message_of(payload)["interactive"]["call_permission_reply"]["expiration_timestamp"]

    deliver(payload)

    sent = datetime.fromtimestamp(int(message_of(payload)["timestamp"]), tz=UTC)
    event = ConsentEvent.objects.get(purpose="calls")
    assert event.expires_at == sent + timedelta(days=7)


def test_an_answer_other_than_accept_withdraws(deliver, ada):
    deliver(reply("call_permission_reply_accept", response="maybe"))

    assert may_send(ada, "calls").reason == "opted_out"


def test_the_reply_is_kept_as_evidence_on_the_event(deliver, ada, calls_notice):
    payload = reply("call_permission_reply_accept")

    deliver(payload)

    event = ConsentEvent.objects.get(purpose="calls")
    assert event.wamid == message_of(payload)["id"]
    assert event.prompted_by_wamid == message_of(payload)["context"]["id"]
    assert event.context["call_permission"] == {
        "response": "accept",
        "is_permanent": False,
        "response_source": "user_action",
    }
    assert event.notice == calls_notice


def test_a_failed_reject_may_carry_an_opt_out_and_a_failed_accept_does_not():
    reject = reply("call_permission_reply_reject")
    accept = reply("call_permission_reply_accept")
    for payload in (reject, accept):
        # Stored items hold the sender's contacts[] entry as split_delivery leaves it.
        assert payload["entry"][0]["changes"][0]["value"]["contacts"]

    assert may_carry_opt_out("message", reject) is True
    assert may_carry_opt_out("message", accept) is False


def test_an_accept_names_the_calls_wording_our_request_carried(deliver, ada, calls_notice):
    payload = reply("call_permission_reply_accept")
    # A newer wording, published after our request went out: not the one they saw.
    NoticeFactory(purpose="calls", version=2, text="Newer wording.")
    OutboundMessage.objects.create(
        wamid=message_of(payload)["context"]["id"],
        to=ada.wa_id,
        contact_id=ada.pk,
        kind=OutboundMessage.Kind.TEXT,
        payload={},
        notice_refs=[calls_notice.ref],
        backend="console",
        status=OutboundMessage.Status.ACCEPTED,
    )

    deliver(payload)

    event = ConsentEvent.objects.get(purpose="calls")
    assert event.notice == calls_notice


def test_without_a_calls_notice_an_accept_grants_nothing_but_a_reject_withdraws(deliver, ada):
    deliver(reply("call_permission_reply_accept"))

    assert not ConsentEvent.objects.filter(purpose="calls").exists()
    assert may_send(ada, "calls").reason == "no_consent"

    deliver(reply("call_permission_reply_reject"))

    assert may_send(ada, "calls").reason == "opted_out"
