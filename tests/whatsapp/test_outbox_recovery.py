"""What the outbox does when a worker dies or a task never comes, and what staff decide."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from tests.whatsapp.helpers import ADA_WA_ID
from whatsapp import delivery, outbox
from whatsapp.addressing import whatsapp_address
from whatsapp.models import OutboundMessage
from whatsapp.tasks import sweep_outbox

pytestmark = pytest.mark.django_db

Status = OutboundMessage.Status


def queued(ada, **kw) -> OutboundMessage:
    return outbox.enqueue_template(
        address=whatsapp_address(wa_id=ada.wa_id), name="hello", language="en", **kw
    )


def left_sending(row: OutboundMessage, minutes_ago: float) -> OutboundMessage:
    """As a worker killed mid-call leaves it."""
    OutboundMessage.objects.filter(pk=row.pk).update(
        status=Status.SENDING,
        claimed_at=timezone.now() - timedelta(minutes=minutes_ago),
        attempts=1,
    )
    row.refresh_from_db()
    return row


def test_a_row_left_sending_by_a_dead_worker_becomes_unknown_and_is_not_sent(ada, settings):
    settings.WHATSAPP_SENDING_TIMEOUT = 120
    stuck = left_sending(queued(ada), minutes_ago=5)
    recent = left_sending(queued(ada), minutes_ago=0.5)

    found = delivery.sweep()

    assert found.unknown == [str(stuck.pk)]
    stuck.refresh_from_db()
    recent.refresh_from_db()
    assert (stuck.status, recent.status) == (Status.UNKNOWN, Status.SENDING)
    # never claimed again, never requeued
    assert delivery.deliver([stuck.pk]).delivered == 0
    assert str(stuck.pk) not in delivery.sweep().requeue


def test_queued_rows_no_task_took_are_enqueued_again(ada, settings, monkeypatch):
    settings.WHATSAPP_OUTBOX_REQUEUE_AFTER = 300
    forgotten = queued(ada)
    OutboundMessage.objects.filter(pk=forgotten.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=10)
    )
    fresh = queued(ada)
    enqueued = []
    monkeypatch.setattr("whatsapp.tasks.deliver_outbound.delay", enqueued.append)

    sweep_outbox()

    assert enqueued == [[str(forgotten.pk)]]
    assert str(fresh.pk) not in enqueued[0]


def test_a_row_waiting_a_day_after_131049_is_not_swept_early(ada):
    waiting = queued(ada)
    OutboundMessage.objects.filter(pk=waiting.pk).update(
        next_attempt_at=timezone.now() + timedelta(hours=23)
    )

    assert delivery.sweep().requeue == []


def test_a_late_answer_still_beats_unknown(ada):
    row = left_sending(queued(ada), minutes_ago=5)
    delivery.sweep()

    # the slow call comes back after the sweep gave up on it
    row.refresh_from_db()
    assert delivery._settle(row, Status.ACCEPTED, wamid="wamid.LATE")

    row.refresh_from_db()
    assert (row.status, row.wamid) == (Status.ACCEPTED, "wamid.LATE")


def test_a_result_handler_that_raises_keeps_the_outcome_and_runs_again(ada, extra_handlers):
    calls = []

    @extra_handlers("outbound_result")
    def flaky(result):
        calls.append(result.status)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")

    row = queued(ada, origin="test:flaky")
    delivery.deliver([row.pk])

    row.refresh_from_db()
    assert row.status == Status.ACCEPTED
    assert "database hiccup" in row.handler_error

    delivery.sweep()

    row.refresh_from_db()
    assert row.handler_error == ""
    assert calls == ["accepted", "accepted"]


def test_a_send_gate_refusal_skips_the_row_just_before_it_goes(ada, notices):
    from tests.consent_helpers import record

    record(ada, "grant")
    row = queued(ada, contact_id=ada.pk, purpose="marketing")
    record(ada, "withdraw")

    delivery.deliver([row.pk])

    row.refresh_from_db()
    assert (row.status, row.skip_reason) == (Status.SKIPPED, "opted_out")


# --- Staff decide what became of an unknown message ---------------------------------------


@pytest.fixture
def unknown(ada):
    row = left_sending(queued(ada, contact_id=ada.pk), minutes_ago=5)
    delivery.sweep()
    row.refresh_from_db()
    assert row.status == Status.UNKNOWN
    return row


@pytest.fixture
def marketer(db) -> Client:
    from django.contrib.auth.models import Group

    from staff.roles import sync_roles

    sync_roles()
    user = get_user_model().objects.create_user("mia", "mia@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketing"))
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def _act(client, action, rows):
    return client.post(
        "/admin/whatsapp/outboundmessage/",
        {"action": action, "_selected_action": [str(r.pk) for r in rows]},
        follow=True,
    )


def test_unknown_messages_are_listed_for_staff(marketer, unknown):
    response = marketer.get("/admin/whatsapp/outboundmessage/?status__exact=unknown")

    assert response.status_code == 200
    assert [row.pk for row in response.context["cl"].result_list] == [unknown.pk]
    assert "Mark sent" in response.content.decode()


def test_mark_sent_records_who_decided_and_when(marketer, unknown):
    from staff.models import AuditEntry

    response = _act(marketer, "mark_sent", [unknown])

    assert response.status_code == 200
    unknown.refresh_from_db()
    assert unknown.status == Status.ACCEPTED
    assert (unknown.resolution, unknown.resolved_by) == ("marked_sent", marketer.user)
    assert unknown.resolved_at is not None
    [entry] = AuditEntry.objects.all()
    assert (entry.actor_user, entry.action, entry.object_id) == (
        marketer.user,
        "mark_outbound_message_sent",
        str(unknown.pk),
    )
    assert entry.after == {"status": "accepted", "resolution": "marked_sent"}


def test_send_again_queues_the_same_row_once(marketer, unknown, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _act(marketer, "send_again", [unknown])
    _act(marketer, "send_again", [unknown])  # a second click decides nothing

    unknown.refresh_from_db()
    assert unknown.status == Status.ACCEPTED
    assert (unknown.resolution, unknown.resolved_by) == ("sent_again", marketer.user)
    assert unknown.to == ADA_WA_ID
    from staff.models import AuditEntry

    assert list(AuditEntry.objects.values_list("action", flat=True)) == [
        "send_outbound_message_again"
    ]


def test_staff_without_the_permission_cannot_decide(unknown, db):
    user = get_user_model().objects.create_user("otto", "o@example.com", "pw", is_staff=True)
    from django.contrib.auth.models import Permission

    user.user_permissions.add(Permission.objects.get(codename="view_outboundmessage"))
    client = Client()
    client.force_login(user)

    _act(client, "mark_sent", [unknown])

    unknown.refresh_from_db()
    assert (unknown.status, unknown.resolution) == (Status.UNKNOWN, "")


def test_only_unknown_rows_can_be_decided(marketer, ada, unknown):
    accepted = queued(ada)
    delivery.deliver([accepted.pk])

    _act(marketer, "mark_sent", [accepted])

    accepted.refresh_from_db()
    assert accepted.resolution == ""


def test_the_outbox_pages_render_for_staff(staff_client, unknown):
    listing = staff_client.get("/admin/whatsapp/outboundmessage/")
    page = staff_client.get(f"/admin/whatsapp/outboundmessage/{unknown.pk}/change/")

    assert listing.status_code == page.status_code == 200
    assert "the worker stopped mid-send" in page.content.decode()


def test_a_sending_numbers_rate_is_set_in_the_admin_within_the_platforms_limits(staff_client):
    from whatsapp.models import SendingNumber

    refused = staff_client.post(
        "/admin/whatsapp/sendingnumber/add/",
        {"phone_number_id": "106540352242922", "label": "Main", "messages_per_second": 1001},
    )
    assert refused.status_code == 200
    assert not SendingNumber.objects.exists()

    saved = staff_client.post(
        "/admin/whatsapp/sendingnumber/add/",
        {"phone_number_id": "106540352242922", "label": "Main", "messages_per_second": 1000},
    )

    assert saved.status_code == 302
    assert SendingNumber.objects.get().messages_per_second == 1000
