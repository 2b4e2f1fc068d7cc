import logging
import math
import threading
import time
from dataclasses import asdict
from typing import Any

from celery import current_app, shared_task
from django.conf import settings

from . import delivery, message_templates
from .exceptions import RateLimited, TemporaryFailure
from .services import RECEIVED_BATCH, process_inbound_event, process_received, process_stragglers

logger = logging.getLogger(__name__)

# Rows per delivery task (also how the sweep splits what it requeues).
DELIVERY_CHUNK = 50


@shared_task(acks_late=True)
def process_inbound_events(event_ids: list[int]) -> int:
    """Process stored webhook items; a failure stays on its row, ready to re-run."""
    return sum(process_inbound_event(event_id=pk) for pk in event_ids)


@shared_task(acks_late=True)
def process_received_inbound_events() -> int:
    """Every stored item still waiting, oldest first: what coalesced webhook requests stored."""
    done, batch = process_received()
    if batch == RECEIVED_BATCH:
        # More waited than one batch: the rest at once, not at the next sweep.
        process_received_inbound_events.delay()
    return done


# A burst of webhook requests needs one task that starts after the last of them commits,
# not a message each: a publish per request cost the webhook about a third of its time
# (bench/webhook.py). Per process, as integrations.tasks coalesces: the first request of a
# quiet spell sends its items at once; later ones within INBOUND_COALESCE_SECONDS share one
# task, sent with that countdown, that processes every item still `received`, so a STOP
# waits about a second at most. A lost message is the straggler sweep's, as before.
INBOUND_COALESCE_SECONDS = 1.0
_coalescing = threading.Lock()
_window = {"sent_at": -math.inf, "covered_until": -math.inf}


def process_inbound_soon(event_ids: list[int]) -> None:
    """After the commit that stored these items: a task to process them, coalesced."""
    if current_app.conf.task_always_eager:
        # Nothing waits in a queue to share: the task runs here, now.
        _publish(process_inbound_events, (event_ids,))
        return
    now = time.monotonic()
    with _coalescing:
        if _window["covered_until"] > now:
            return  # a task of this process starts after this commit
        at_once = now - _window["sent_at"] >= INBOUND_COALESCE_SECONDS
        if at_once:
            _window["sent_at"] = now
        else:
            _window["covered_until"] = now + INBOUND_COALESCE_SECONDS
    if at_once:
        _publish(process_inbound_events, (event_ids,))
    else:
        _publish(process_received_inbound_events, (), countdown=INBOUND_COALESCE_SECONDS)


def _publish(task: Any, args: tuple, *, countdown: float | None = None) -> None:
    try:
        task.apply_async(args, countdown=countdown)
    except Exception:
        # The rows are stored; the straggler sweep and `reprocess_webhooks` pick them up.
        logger.exception("could not enqueue inbound events %s", args)


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
