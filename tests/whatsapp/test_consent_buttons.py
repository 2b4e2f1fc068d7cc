"""Reply buttons and template quick replies → grant / withdraw with the wording shown."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.models import ConsentEvent, ConsentState
from tests.consent_helpers import record
from tests.whatsapp.helpers import with_message
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db


def state(contact, purpose="marketing"):
    return ConsentState.objects.get(contact=contact, purpose=purpose).status


def test_a_pending_web_opt_in_becomes_opted_in_when_confirmed(deliver, ada, one_tap_sent):
    # given a double opt-in waiting for confirmation
    record(ada, "request", at=timezone.now() - timedelta(minutes=5))
    assert state(ada) == "pending"

    # when Ada taps "Yes" on our message
    deliver(with_message("interactive_button_reply", at=timezone.now()))

    # then
    assert state(ada) == "opted_in"
    grant = ConsentEvent.objects.get(action="grant")
    assert grant.notice.ref == "marketing/en/1"
    assert grant.evidence["prompted_by_wamid"] == "wamid.OUTBOUND-ONE-TAP"


def test_a_confirmation_stamped_in_the_same_second_as_the_request_still_applies(
    deliver, ada, one_tap_sent
):
    # given a request made at 12:00:00.700 (Meta stamps replies in whole seconds)
    requested_at = timezone.now().replace(microsecond=700_000) - timedelta(seconds=1)
    record(ada, "request", at=requested_at)
    # and our confirmation message sent right after it
    OutboundMessage.objects.filter(pk=one_tap_sent.pk).update(
        created_at=requested_at + timedelta(milliseconds=100)
    )

    # when the confirming tap arrives stamped 12:00:00
    deliver(with_message("interactive_button_reply", at=requested_at.replace(microsecond=0)))

    # then it answers the request, it is not older than it
    assert state(ada) == "opted_in"
    assert ConsentEvent.objects.get(action="grant").applied


def test_the_notice_is_the_one_the_replied_to_message_carried_not_the_newest(
    deliver, ada, one_tap_sent
):
    # given a newer wording published after our message went out
    from tests.factories import NoticeFactory

    NoticeFactory(purpose="marketing", language="en", version=2)

    deliver(with_message("interactive_button_reply", at=timezone.now()))

    assert ConsentEvent.objects.get().notice.ref == "marketing/en/1"


def test_a_grant_without_a_known_message_is_not_recorded_and_the_opt_in_is_sent_again(
    deliver, ada, notices
):
    deliver(with_message("interactive_button_reply", at=timezone.now(), context="wamid.UNKNOWN"))

    assert not ConsentEvent.objects.exists()
    sent = OutboundMessage.objects.get()
    assert sent.kind == OutboundMessage.Kind.BUTTONS
    assert sent.notice_refs == ["marketing/en/1"]


def test_a_reply_to_a_message_sent_to_someone_else_proves_no_wording(deliver, ada, one_tap_sent):
    from tests.factories import ContactFactory

    OutboundMessage.objects.filter(pk=one_tap_sent.pk).update(contact_id=ContactFactory().pk)

    deliver(with_message("interactive_button_reply", at=timezone.now()))

    assert not ConsentEvent.objects.filter(action="grant").exists()


def test_the_no_thanks_button_withdraws_and_replies_how_to_come_back(deliver, ada, one_tap_sent):
    deliver(
        with_message(
            "interactive_button_reply", at=timezone.now(), button_id="consent:marketing:withdraw"
        )
    )

    assert state(ada) == "opted_out"
    reply = OutboundMessage.objects.exclude(pk=one_tap_sent.pk).get()
    assert "START" in reply.payload["text"]["body"]


def test_one_button_for_two_purposes_withdraws_both(deliver, ada, one_tap_sent):
    deliver(
        with_message(
            "interactive_button_reply",
            at=timezone.now(),
            button_id="consent:marketing,service:withdraw",
        )
    )

    assert state(ada, "marketing") == state(ada, "service") == "opted_out"


def test_payloads_it_does_not_own_are_left_to_their_handlers(deliver, ada, notices, extra_handlers):
    seen = []

    @extra_handlers("message")
    def _test_invitation_handler(event):
        if event.button_id.startswith("invite:"):
            seen.append(event.button_id)

    button = "invite:0b8f0c3e-5c1f-4a43-9a5e-0d1c2b3a4f5e:accept"
    deliver(with_message("interactive_button_reply", at=timezone.now(), button_id=button))

    assert seen == [button]
    assert not ConsentEvent.objects.exists()
    assert not OutboundMessage.objects.exists()


def test_an_unknown_purpose_in_a_consent_payload_is_ignored(deliver, ada, one_tap_sent):
    deliver(
        with_message("interactive_button_reply", at=timezone.now(), button_id="consent:sms:grant")
    )

    assert not ConsentEvent.objects.exists()
