"""A withdraw recorded after a message was queued cancels messages that carry no purpose.

Rows with a consent purpose are checked against the current state at send time. The
messages that ask for consent (the web form's confirmation, the START answer, re-consent
reminders) and a group's invite link carry none: a STOP processed while they waited in
the outbox (a worker outage, a held send) must still stop them. Here each row is queued
and its delivery task lost; the stop is processed; then the outbox delivers the row.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import ReminderSent, ReminderStatus
from campaigns.reminders import send_reconsent_reminder
from consent.services import Evidence
from conversation import outreach
from conversation.pending import request_opt_in
from groups.models import Group
from groups.services import invite_contact, leave_group, respond_to_invitation
from tests.consent_helpers import record
from tests.factories import PolicyFactory
from tests.groups.conftest import open_window
from tests.whatsapp.helpers import post_webhook, with_message
from whatsapp import delivery
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db

Status = OutboundMessage.Status
SKIPPED_AFTER_STOP = (Status.SKIPPED, "withdrawn_after_queued")


def said(text: str, *, at=None, wamid: str = "wamid.SAID") -> dict:
    return with_message("text_stop", at=at or timezone.now(), body=text, id=wamid)


def fate(row: OutboundMessage) -> tuple[str, str]:
    row.refresh_from_db()
    return row.status, row.skip_reason


def queued_without_its_task(django_capture_on_commit_callbacks, action, *args, **kwargs):
    """Run `action` and its after-commit work, except the outbox delivery (a lost task)."""
    with django_capture_on_commit_callbacks() as callbacks:
        action(*args, **kwargs)
    for callback in callbacks:
        callback()  # any delivery it enqueues on commit is never run here


# --- Messages that ask for consent ---------------------------------------------------------


@pytest.mark.parametrize("purposes", [["marketing"], ["marketing", "service"]])
def test_a_stop_processed_after_the_web_form_confirmation_was_queued_cancels_it(
    deliver, ada, notices, django_capture_on_commit_callbacks, purposes
):
    # given the web form's request, whose WhatsApp confirmation is queued, not delivered
    queued_without_its_task(
        django_capture_on_commit_callbacks,
        request_opt_in,
        phone=str(ada.phone),
        name="Ada",
        language="en",
        notices=[notices[p] for p in purposes],
        evidence=Evidence(ip="203.0.113.9"),
    )
    confirmation = OutboundMessage.objects.get(reason="web_opt_in")
    assert confirmation.status == Status.QUEUED and confirmation.purpose == ""

    # when Ada's STOP (marketing) is processed before the outbox gets to it
    deliver(said("STOP"))
    delivery.deliver([confirmation.pk])

    # then nothing asks her for consent after her stop
    assert fate(confirmation) == SKIPPED_AFTER_STOP
    assert confirmation.sent_at is None and confirmation.wamid is None


def test_a_stop_before_start_does_not_hold_back_the_start_answer(deliver, ada, notices):
    # given Ada said STOP, and later START: the answer is queued after the withdraw
    deliver(said("STOP", at=timezone.now() - timedelta(minutes=5), wamid="wamid.STOP"))

    deliver(said("START", wamid="wamid.START"))

    answer = OutboundMessage.objects.get(kind=OutboundMessage.Kind.BUTTONS)
    assert answer.notice_refs == ["marketing/en/1"] and answer.purpose == ""
    assert answer.status == Status.ACCEPTED


def test_a_stop_after_start_cancels_the_start_answer_still_queued(
    deliver, client, ada, notices, django_capture_on_commit_callbacks
):
    # given Ada, who had stopped, wrote START: its answer is queued, its delivery task lost
    record(ada, "withdraw", at=timezone.now() - timedelta(minutes=10))
    queued_without_its_task(
        django_capture_on_commit_callbacks, post_webhook, client, said("START", wamid="wamid.S")
    )
    answer = OutboundMessage.objects.get(kind=OutboundMessage.Kind.BUTTONS)
    assert answer.status == Status.QUEUED

    # when she says STOP again before it goes
    deliver(said("STOP", wamid="wamid.STOP-AGAIN"))
    delivery.deliver([answer.pk])

    # then she is not asked
    assert fate(answer) == SKIPPED_AFTER_STOP


def test_a_reconsent_reminder_queued_before_a_stop_is_not_sent(deliver, ada, marketing_notice):
    # given a legacy contact's re-consent reminder, queued (its delivery task lost)
    policy = PolicyFactory(deadline=timezone.now() + timedelta(days=29))
    record(ada, "legacy", source="import")
    reminder = ReminderSent.objects.create(
        policy=policy, contact=ada, offset=30, purposes=["marketing"]
    )
    send_reconsent_reminder(reminder_id=reminder.pk)
    row = OutboundMessage.objects.get(origin=f"campaigns.reminder:{reminder.pk}")
    assert row.purpose == "" and row.notice_refs == ["marketing/en/1"]

    # when her STOP is processed first
    deliver(said("STOP"))
    delivery.deliver([row.pk])

    # then the reminder is skipped, and says why
    assert fate(row) == SKIPPED_AFTER_STOP
    reminder.refresh_from_db()
    assert (reminder.status, reminder.error) == (ReminderStatus.SKIPPED, "withdrawn_after_queued")


def test_a_request_about_several_purposes_is_cancelled_by_a_stop_of_any_of_them(ada, notices):
    row = outreach.send_one_tap_opt_in(contact=ada, purposes=["marketing", "service"])

    record(ada, "withdraw", "service")
    delivery.deliver([row.pk])

    assert fate(row) == SKIPPED_AFTER_STOP


# --- Replies and group messages: a STOP ALL stops what was queued before it ----------------


def test_a_reply_queued_before_a_stop_all_is_not_sent_and_the_stops_own_reply_is(
    deliver, ada, notices
):
    open_window(ada)
    thanks = outreach.send_confirmation_text(contact=ada, body="Thank you, your choice is saved.")

    deliver(said("STOP ALL"))
    delivery.deliver([thanks.pk])

    assert fate(thanks) == SKIPPED_AFTER_STOP
    [stopped] = OutboundMessage.objects.exclude(pk=thanks.pk)
    assert stopped.status == Status.ACCEPTED
    assert "no longer receive WhatsApp messages" in stopped.payload["text"]["body"]


def test_a_stop_of_marketing_alone_lets_a_queued_reply_go(deliver, ada, notices):
    open_window(ada)
    thanks = outreach.send_confirmation_text(contact=ada, body="Thank you, your choice is saved.")

    deliver(said("STOP"))
    delivery.deliver([thanks.pk])

    assert fate(thanks) == (Status.ACCEPTED, "")


@pytest.fixture
def invite_link(ada, notices):
    """Ada accepted an invitation to a real WhatsApp group: its link is queued, not sent."""
    record(ada, "grant", at=timezone.now() - timedelta(days=1))
    group = Group.objects.create(
        name="VIP early access",
        purpose="marketing",
        whatsapp_group_id="120363000000001",
        invite_link="https://chat.whatsapp.com/KNOWN",
    )
    open_window(ada)
    invitation = invite_contact(group=group, contact=ada)
    respond_to_invitation(invitation=invitation, answer="accept", source="api")
    row = OutboundMessage.objects.get(origin=f"groups.invite_link:{invitation.pk}")
    assert row.purpose == "" and row.status == Status.QUEUED
    return row


def test_the_group_invite_link_is_not_sent_after_a_stop_all(deliver, invite_link):
    deliver(said("STOP ALL"))
    delivery.deliver([invite_link.pk])

    assert fate(invite_link) == SKIPPED_AFTER_STOP


def test_the_group_invite_link_still_goes_after_a_stop_of_marketing_alone(deliver, invite_link):
    # The invitation was accepted: leaving the group is a separate answer.
    deliver(said("STOP"))
    delivery.deliver([invite_link.pk])

    assert fate(invite_link) == (Status.ACCEPTED, "")


def test_the_group_invite_link_is_not_sent_once_the_membership_ended(invite_link):
    membership = invite_link_membership(invite_link)
    leave_group(membership=membership, source="api")

    delivery.deliver([invite_link.pk])

    assert fate(invite_link) == (Status.SKIPPED, "membership_ended")


def test_the_group_invite_link_is_not_sent_to_a_closed_group(invite_link):
    Group.objects.update(active=False)

    delivery.deliver([invite_link.pk])

    assert fate(invite_link) == (Status.SKIPPED, "group_closed")


def invite_link_membership(row: OutboundMessage):
    from groups.models import GroupMembership

    return GroupMembership.objects.get(invitation_id=row.origin.split(":", 1)[1])


# --- What the check costs --------------------------------------------------------------------


def test_the_check_is_one_query_on_a_message_without_purpose_and_none_on_a_groups_api_call(
    ada, notices, django_assert_num_queries
):
    asking = outreach.send_one_tap_opt_in(contact=ada, purposes=["marketing"])
    join = OutboundMessage(kind=OutboundMessage.Kind.JOIN_APPROVE, to="1203", payload={})

    with django_assert_num_queries(1):
        assert delivery._refusal(asking) is None
    with django_assert_num_queries(0):
        assert delivery._refusal(join) is None
