from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from campaigns import tasks
from campaigns.models import ReminderSent, ReminderStatus
from campaigns.reminders import due_reminder_offset, schedule_reconsent_reminders
from tests.campaigns.conftest import make_contact, sent_to
from tests.consent_helpers import record
from tests.factories import PolicyFactory
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture
def policy(db, marketing_notice):
    # Today is the first reminder day: 29 days before the deadline.
    return PolicyFactory(deadline=timezone.now() + 29 * DAY, reminder_offsets=[30, 7, 1])


def legacy_contact():
    contact = make_contact()
    record(contact, "legacy", source="import")  # expires at the policy's deadline
    return contact


def run_beat_task(callbacks_fixture) -> None:
    with callbacks_fixture(execute=True):
        tasks.send_reconsent_reminders()


def test_legacy_contacts_get_the_one_tap_opt_in_once_per_offset_however_often_the_task_runs(
    policy, whatsapp, django_capture_on_commit_callbacks
):
    # given
    legacy = legacy_contact()
    opted_in, opted_out = make_contact("opted_in"), make_contact("opted_out")

    # when the daily task runs twice on the same day
    run_beat_task(django_capture_on_commit_callbacks)
    run_beat_task(django_capture_on_commit_callbacks)

    # then
    reminder = ReminderSent.objects.get()
    assert (reminder.contact, reminder.offset, reminder.status) == (legacy, 30, "sent")
    assert reminder.wamid == OutboundMessage.objects.get().wamid
    assert OutboundMessage.objects.get().notice_refs == ["marketing/en/1"]
    assert (sent_to(legacy), sent_to(opted_in), sent_to(opted_out)) == (1, 0, 0)


def test_each_offset_sends_its_own_reminder_once(
    policy, whatsapp, django_capture_on_commit_callbacks
):
    contact = legacy_contact()
    for days_before in (30, 29, 8, 7, 6, 7, 1, 1):
        with django_capture_on_commit_callbacks(execute=True):
            schedule_reconsent_reminders(
                at=policy.deadline - days_before * DAY + timedelta(hours=1)
            )

    offsets = sorted(ReminderSent.objects.values_list("offset", flat=True))
    assert offsets == [1, 7, 30]
    assert sent_to(contact) == 3


def test_after_a_pause_only_the_latest_due_offset_is_sent(policy):
    assert due_reminder_offset(policy, policy.deadline - 2 * DAY) == 7
    assert due_reminder_offset(policy, policy.deadline - 31 * DAY) is None
    assert due_reminder_offset(policy, policy.deadline) is None


def test_a_contact_who_answered_is_not_reminded(
    policy, whatsapp, django_capture_on_commit_callbacks
):
    contact = legacy_contact()
    record(contact, "grant", source="whatsapp_button")

    run_beat_task(django_capture_on_commit_callbacks)

    assert not ReminderSent.objects.exists()
    assert sent_to(contact) == 0


def test_an_answer_between_scheduling_and_sending_skips_the_reminder(
    policy, whatsapp, django_capture_on_commit_callbacks
):
    contact = legacy_contact()
    with django_capture_on_commit_callbacks() as callbacks:
        tasks.send_reconsent_reminders()
    record(contact, "withdraw", source="whatsapp_keyword")

    for callback in callbacks:
        callback()

    assert ReminderSent.objects.get().status == ReminderStatus.SKIPPED
    assert sent_to(contact) == 0


def test_no_reminders_without_an_active_policy(whatsapp, django_capture_on_commit_callbacks):
    legacy = make_contact("legacy")

    run_beat_task(django_capture_on_commit_callbacks)

    assert sent_to(legacy) == 0


def test_the_beat_runs_the_reminder_task_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["send-reconsent-reminders"]
    assert entry["task"] == tasks.send_reconsent_reminders.name


def test_outside_the_window_a_reminder_is_the_policys_approved_template(
    whatsapp, django_capture_on_commit_callbacks, marketing_notice
):
    # given a policy naming its template, and a legacy contact we have not talked to
    PolicyFactory(
        deadline=timezone.now() + 29 * DAY, reminder_offsets=[30], template_name="reconsent_2026"
    )
    legacy = legacy_contact()

    # when
    run_beat_task(django_capture_on_commit_callbacks)

    # then
    sent = OutboundMessage.objects.get(contact_id=legacy.pk)
    assert sent.kind == OutboundMessage.Kind.TEMPLATE
    assert sent.payload["template"]["name"] == "reconsent_2026"
