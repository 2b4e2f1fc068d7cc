"""Re-consent reminders (DESIGN rule 6): the one-tap opt-in at each offset before the deadline."""

from datetime import datetime, timedelta
from functools import partial
from itertools import groupby
from operator import itemgetter
from typing import Any

from django.db import transaction
from django.utils import timezone

from config.celery import registered_task
from consent.models import ConsentState, ReconsentPolicy
from consent.rules import Status
from consent.services import active_policy
from whatsapp.events import OutboundResult
from whatsapp.exceptions import WhatsAppError

from .models import ReminderSent, ReminderStatus
from .selectors import batched
from .services import REMINDER_ORIGIN, send_one_tap

# Reminders inserted (and enqueued) per batch.
REMINDER_BATCH_SIZE = 1000


def due_reminder_offset(policy: ReconsentPolicy, at: datetime) -> int | None:
    """The offset whose moment has come most recently, or None (none yet, or past the deadline).

    After a pause of the beat, only the latest due offset is sent: never two reminders at once.
    """
    if at >= policy.deadline:
        return None
    due = [
        int(d) for d in policy.reminder_offsets if policy.deadline - timedelta(days=int(d)) <= at
    ]
    return min(due) if due else None


def schedule_reconsent_reminders(*, at: datetime | None = None) -> int:
    """Insert a reminder per legacy contact for the due offset (once only); send after commit.

    Returns how many reminders are waiting to be sent for that offset.
    """
    at = at or timezone.now()
    policy = active_policy()
    offset = due_reminder_offset(policy, at) if policy else None
    if policy is None or offset is None:
        return 0
    legacy = (
        ConsentState.objects.filter(
            status=Status.LEGACY, expires_at__gt=at, contact__erased_at__isnull=True
        )
        .order_by("contact_id", "purpose")
        .values_list("contact_id", "purpose")
    )
    # Ordered by contact: each contact's purposes are consecutive rows.
    by_contact = (
        (contact_id, [purpose for _, purpose in rows])
        for contact_id, rows in groupby(
            legacy.iterator(chunk_size=REMINDER_BATCH_SIZE), key=itemgetter(0)
        )
    )
    for chunk in batched(by_contact, REMINDER_BATCH_SIZE):
        ReminderSent.objects.bulk_create(
            [
                ReminderSent(policy=policy, contact_id=pk, offset=offset, purposes=purposes)
                for pk, purposes in chunk
            ],
            ignore_conflicts=True,
        )
    pending = ReminderSent.objects.filter(
        policy=policy, offset=offset, status=ReminderStatus.PENDING
    ).values_list("pk", flat=True)
    count = 0
    for pk in pending.iterator(chunk_size=REMINDER_BATCH_SIZE):
        transaction.on_commit(
            partial(registered_task("campaigns.tasks.send_reconsent_reminder").delay, pk)
        )
        count += 1
    return count


def send_reconsent_reminder(*, reminder_id: int) -> ReminderSent:
    """Queue one pending reminder (the one-tap opt-in) in the outbox, at most once.

    What became of it comes back through `record_reminder_result`.
    """
    with transaction.atomic():
        claimed = ReminderSent.objects.filter(pk=reminder_id, status=ReminderStatus.PENDING).update(
            status=ReminderStatus.SENDING
        )
        reminder = ReminderSent.objects.select_related("contact", "policy").get(pk=reminder_id)
        if claimed != 1:
            return reminder
        # Only what is still legacy now: an answer given since the insert is final.
        still_legacy = list(
            ConsentState.objects.filter(
                contact=reminder.contact,
                purpose__in=reminder.purposes,
                status=Status.LEGACY,
                expires_at__gt=timezone.now(),
            ).values_list("purpose", flat=True)
        )
        outcome: dict[str, Any] = {}
        if not still_legacy:
            outcome = {"status": ReminderStatus.SKIPPED}
        else:
            try:
                send_one_tap(
                    contact=reminder.contact,
                    purposes=sorted(still_legacy),
                    reason=f"reconsent reminder, {reminder.offset} days before the deadline",
                    template_name=reminder.policy.template_name,
                    origin=f"{REMINDER_ORIGIN}:{reminder.pk}",
                )
            except WhatsAppError as exc:
                outcome = {"status": ReminderStatus.FAILED, "error": str(exc)[:512]}
        if outcome:
            ReminderSent.objects.filter(pk=reminder.pk).update(**outcome)
    reminder.refresh_from_db()
    return reminder


# outbox status → reminder status
_FROM_OUTBOX = {
    "accepted": ReminderStatus.SENT,
    "failed": ReminderStatus.FAILED,
    "skipped": ReminderStatus.SKIPPED,
    "unknown": ReminderStatus.UNKNOWN,
}


def record_reminder_result(*, result: OutboundResult) -> bool:
    """The reminder's message went out, failed, or its fate is unknown."""
    status = _FROM_OUTBOX.get(result.status)
    if status is None:
        return False
    reminder_id = int(result.origin.rsplit(":", 1)[1])
    fields: dict[str, Any] = {"status": status}
    if status == ReminderStatus.SENT:
        fields.update(wamid=result.wamid, sent_at=timezone.now())
    elif status != ReminderStatus.UNKNOWN:
        fields["error"] = (result.skip_reason or result.error_title)[:512]
    changed = ReminderSent.objects.filter(
        pk=reminder_id, status__in=[ReminderStatus.SENDING, ReminderStatus.UNKNOWN]
    ).update(**fields)
    return changed == 1
