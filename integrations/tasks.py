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


def enqueue_deliveries(ids: Iterable[int]) -> None:
    for delivery_id in ids:
        try:
            deliver_webhook.delay(delivery_id)
        except Exception:
            # Stored and committed: the sweep enqueues it again.
            logger.exception("could not enqueue webhook delivery %s", delivery_id)
