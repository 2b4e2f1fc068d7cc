"""No network call inside a transaction: the guard every test runs under, and the paths it watches.

`tests/conftest.py` installs the guard for the whole suite, so any code path that calls
the Graph API (or Redis, or any TCP peer) inside `transaction.atomic()` fails its test.
These tests prove the guard bites, then walk every kind of send with the cloud backend.
"""

import pytest
import redis
from django.db import transaction
from django.utils import timezone

from tests.network_guard import NetworkInsideTransaction
from whatsapp.client import graph_client
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db


def test_a_graph_call_inside_a_transaction_fails_the_test(graph):
    with pytest.raises(NetworkInsideTransaction), transaction.atomic():
        graph_client().send_message({"messaging_product": "whatsapp", "to": "1"})

    assert graph.calls == []


def test_any_tcp_connection_inside_a_transaction_fails_the_test():
    with pytest.raises(NetworkInsideTransaction), transaction.atomic():
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()


def test_the_same_call_after_commit_is_fine(graph):
    with transaction.atomic():
        pass

    assert graph_client().send_message({"messaging_product": "whatsapp", "to": "1"})


def test_every_kind_of_send_leaves_after_commit_only(
    graph, ada_in_window, notices, deliver, django_capture_on_commit_callbacks
):
    """STOP reply, one-tap opt-in, invitation, invite link, join decision, leaving,
    campaign message, reminder: all queued in their transaction, delivered after it."""
    from campaigns.models import Campaign, Message
    from campaigns.reminders import send_reconsent_reminder
    from campaigns.services import send_campaign_batch
    from groups.models import Group, GroupMembership
    from groups.services import invite_contact, leave_group, respond_to_invitation
    from groups.whatsapp_groups import decide_join_request
    from tests.consent_helpers import record
    from tests.factories import PolicyFactory
    from tests.whatsapp.helpers import with_message

    # a STOP and its reply, a START and its one-tap opt-in
    record(ada_in_window, "grant", at=timezone.now() - timezone.timedelta(days=1))
    deliver(with_message("text_stop", at=timezone.now()))
    deliver(with_message("text_stop", at=timezone.now(), id="wamid.START", body="START"))
    # a group invitation, its acceptance (the invite link), a join decision, leaving
    record(ada_in_window, "grant", at=timezone.now())
    group = Group.objects.create(
        name="VIP", purpose="marketing", whatsapp_group_id="1203630001", invite_link=""
    )
    with django_capture_on_commit_callbacks(execute=True):
        invitation = invite_contact(group=group, contact=ada_in_window)
    with django_capture_on_commit_callbacks(execute=True):
        respond_to_invitation(invitation=invitation, answer="accept", source="api")
    with django_capture_on_commit_callbacks(execute=True):
        decide_join_request(group=group, request_id="jr-1", wa_id=ada_in_window.wa_id)
    with django_capture_on_commit_callbacks(execute=True):
        leave_group(membership=GroupMembership.objects.get(), source="api")
    # a campaign message and a re-consent reminder
    campaign = Campaign.objects.create(
        name="Sale",
        kind="marketing",
        purpose="marketing",
        template_name="sale",
        status="sending",
        fanned_out_at=timezone.now(),
    )
    record(ada_in_window, "grant", at=timezone.now())
    message = Message.objects.create(campaign=campaign, contact=ada_in_window)
    with django_capture_on_commit_callbacks(execute=True):
        send_campaign_batch(
            campaign_id=campaign.pk, first_message_id=message.pk, last_message_id=message.pk
        )
    from campaigns.models import ReminderSent

    legacy = ada_in_window
    record(legacy, "legacy", "service", expires_at=timezone.now() + timezone.timedelta(days=9))
    reminder = ReminderSent.objects.create(
        policy=PolicyFactory(deadline=timezone.now() + timezone.timedelta(days=9)),
        contact=legacy,
        offset=30,
        purposes=["service"],
    )
    with django_capture_on_commit_callbacks(execute=True):
        send_reconsent_reminder(reminder_id=reminder.pk)

    kinds = sorted(OutboundMessage.objects.values_list("kind", flat=True))
    assert kinds == sorted(
        [
            "text",  # the STOP confirmation
            "buttons",  # the one-tap opt-in after START
            "buttons",  # the invitation
            "text",  # the invite link
            "join_approve",
            "remove_participants",
            "template",  # the campaign message
            "buttons",  # the reminder (Ada wrote today: reply buttons)
        ]
    )
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {"accepted"}
    assert len(graph.calls_to("POST", "/messages")) == 6
