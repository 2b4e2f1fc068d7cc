"""Celery entry points: thin, by id, retried only on temporary errors."""

from celery import shared_task

from whatsapp.exceptions import RateLimited

from . import reminders, services

# A rate limit is the one error worth waiting for; every other one is final,
# and a claimed message is never sent twice.
RETRY_ON = (RateLimited,)
RETRY_OPTIONS = {
    "autoretry_for": RETRY_ON,
    "retry_backoff": 5,
    "retry_backoff_max": 10 * 60,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task
def fan_out_campaign(campaign_id: str) -> int:
    return services.fan_out_campaign(campaign_id=campaign_id)


@shared_task(**RETRY_OPTIONS)
def send_campaign_batch(campaign_id: str, first_message_id: int, last_message_id: int) -> None:
    services.send_campaign_batch(
        campaign_id=campaign_id,
        first_message_id=first_message_id,
        last_message_id=last_message_id,
    )


@shared_task
def send_reconsent_reminders() -> int:
    return reminders.schedule_reconsent_reminders()


@shared_task(**RETRY_OPTIONS)
def send_reconsent_reminder(reminder_id: int) -> None:
    reminders.send_reconsent_reminder(reminder_id=reminder_id)
