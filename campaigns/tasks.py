"""Celery entry points: thin, by id. Sending itself is the WhatsApp outbox's task."""

from celery import shared_task
from django.db import OperationalError

from . import reminders, services

# A lost database connection is worth another try; the rest is the outbox's to retry.
RETRY_OPTIONS = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 5 * 60,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(**RETRY_OPTIONS)
def fan_out_campaign(campaign_id: str) -> int:
    return services.fan_out_campaign(campaign_id=campaign_id)


@shared_task(**RETRY_OPTIONS)
def send_campaign_batch(campaign_id: str, first_message_id: int, last_message_id: int) -> int:
    return services.send_campaign_batch(
        campaign_id=campaign_id,
        first_message_id=first_message_id,
        last_message_id=last_message_id,
    )


@shared_task
def resume_stalled_campaigns() -> int:
    """Fan-outs and batches whose task died start again where they stopped."""
    resumed = 0
    for campaign_id in services.stalled_fan_outs():
        fan_out_campaign.delay(str(campaign_id))
        resumed += 1
    for campaign_id, first, last in services.stalled_batches():
        send_campaign_batch.delay(str(campaign_id), first, last)
        resumed += 1
    return resumed


@shared_task
def send_reconsent_reminders() -> int:
    return reminders.schedule_reconsent_reminders()


@shared_task(**RETRY_OPTIONS)
def send_reconsent_reminder(reminder_id: int) -> None:
    reminders.send_reconsent_reminder(reminder_id=reminder_id)
