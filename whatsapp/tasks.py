from dataclasses import asdict

from celery import shared_task
from django.conf import settings

from . import delivery, message_templates
from .exceptions import RateLimited, TemporaryFailure
from .services import process_inbound_event, process_stragglers

# Rows per delivery task (also how the sweep splits what it requeues).
DELIVERY_CHUNK = 50


@shared_task(acks_late=True)
def process_inbound_events(event_ids: list[int]) -> int:
    """Process stored webhook items; a failure stays on its row, ready to re-run."""
    return sum(process_inbound_event(event_id=pk) for pk in event_ids)


@shared_task
def process_straggling_inbound_events() -> int:
    """Safety net: rows stored but never processed (broker down, task lost, worker killed)."""
    return process_stragglers()


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(RateLimited, TemporaryFailure),
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=10,
)
def deliver_outbound(self, outbound_ids: list[str]) -> int:
    """Deliver outbox rows; a rate limit or 5xx retries the rest with backoff, never by sleeping."""
    outcome = delivery.deliver(outbound_ids)
    if outcome.held and not self.request.is_eager:
        # Tried again once what their recipients sent may be processed; the sweep
        # catches up if this task is lost.
        deliver_outbound.apply_async((outcome.held,), countdown=settings.WHATSAPP_HOLD_WAIT)
    if not outcome.remaining:
        return outcome.delivered
    countdown = min(outcome.wait, delivery.MAX_COUNTDOWN)
    if getattr(outcome.error, "retry_after", None):
        # The platform said when: its Retry-After is the countdown.
        raise self.retry(args=(outcome.remaining,), countdown=countdown, exc=outcome.error)
    if outcome.error is not None:
        raise outcome.error
    # Our own bucket for this number is empty until then; eager runs leave it to the sweep.
    if not self.request.is_eager:
        deliver_outbound.apply_async((outcome.remaining,), countdown=countdown)
    return outcome.delivered


@shared_task
def sweep_outbox() -> int:
    """Stored inbound items first; then rows left `sending` by a dead worker become unknown,
    and queued rows no task took go again."""
    found = delivery.sweep()
    for start in range(0, len(found.requeue), DELIVERY_CHUNK):
        deliver_outbound.delay(found.requeue[start : start + DELIVERY_CHUNK])
    return len(found.unknown)


@shared_task(
    bind=True,
    autoretry_for=(TemporaryFailure,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=5,
)
def sync_message_templates(self, waba_id: str = "") -> dict[str, int]:
    """Beat: the template registry in step with the platform (webhooks keep it current)."""
    if not (waba_id or settings.WHATSAPP_BUSINESS_ACCOUNT_ID):
        return {}
    try:
        result = message_templates.sync_templates(waba_id=waba_id)
    except RateLimited as error:
        # The platform said when; the list is read again from its first page.
        raise self.retry(countdown=error.retry_after or 60, exc=error) from error
    return asdict(result)
