"""Webhook deliveries on the default queue; the work is in `integrations.delivery`."""

import logging
from collections.abc import Iterable

from celery import shared_task

from . import delivery

logger = logging.getLogger(__name__)

# Longer waits are left to the sweep: a broker holding tasks for hours redelivers them.
MAX_COUNTDOWN_SECONDS = 300


@shared_task(ignore_result=True)
def deliver_webhook(delivery_id: int) -> bool:
    outcome = delivery.deliver(delivery_id)
    enqueue_deliveries(outcome.then)
    if outcome.retry_in is not None and outcome.retry_in <= MAX_COUNTDOWN_SECONDS:
        deliver_webhook.apply_async([delivery_id], countdown=outcome.retry_in)
    return outcome.delivered


@shared_task(ignore_result=True)
def sweep_webhook_deliveries() -> int:
    ids = delivery.stragglers()
    enqueue_deliveries(ids)
    return len(ids)


@shared_task(ignore_result=True)
def fan_out_deliveries(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        deliver_webhook.delay(delivery_id)


def enqueue_deliveries(ids: Iterable[int]) -> None:
    """One task each; several are handed over in one message (one publish on the
    request's path), and fanned out by a worker."""
    ids = list(ids)
    if not ids:
        return
    try:
        if len(ids) == 1:
            deliver_webhook.delay(ids[0])
        else:
            fan_out_deliveries.delay(ids)
    except Exception:
        # Stored and committed: the sweep enqueues them again.
        logger.exception("could not enqueue %s webhook deliveries", len(ids))
