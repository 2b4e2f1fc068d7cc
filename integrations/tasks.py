"""Webhook deliveries on the default queue; the work is in `integrations.delivery`."""

import logging
from collections.abc import Iterable
from typing import Any

from celery import shared_task

from . import delivery

logger = logging.getLogger(__name__)

# Longer waits are left to the sweep: a broker holding tasks for hours redelivers them.
MAX_COUNTDOWN_SECONDS = 300


# A task delivers batch after batch to its endpoint, for at most this many.
ROUNDS = 50


@shared_task(ignore_result=True)
def deliver_to_endpoint(endpoint_id: str) -> int:
    delivered = 0
    for _ in range(ROUNDS):
        outcome = delivery.deliver(endpoint_id)
        delivered += outcome.delivered
        if outcome.retry_in is not None and outcome.retry_in <= MAX_COUNTDOWN_SECONDS:
            deliver_to_endpoint.apply_async([endpoint_id], countdown=outcome.retry_in)
        if not outcome.claimed:
            break
    else:
        deliver_to_endpoint.delay(endpoint_id)  # more to do: after the other tasks waiting
    return delivered


@shared_task(ignore_result=True)
def deliver_to_endpoints(endpoint_ids: list[str]) -> None:
    for endpoint_id in endpoint_ids:
        deliver_to_endpoint.delay(endpoint_id)


@shared_task(ignore_result=True)
def sweep_webhook_deliveries() -> int:
    endpoints = delivery.stragglers()
    enqueue_deliveries(endpoints)
    return len(endpoints)


def enqueue_deliveries(endpoint_ids: Iterable[Any]) -> None:
    """Deliver what these endpoints are owed: one message on the request's path, whatever
    the number of endpoints (a worker fans it out)."""
    ids = sorted({str(pk) for pk in endpoint_ids})
    if not ids:
        return
    try:
        if len(ids) == 1:
            deliver_to_endpoint.delay(ids[0])
        else:
            deliver_to_endpoints.delay(ids)
    except Exception:
        # Stored and committed: the sweep enqueues them again.
        logger.exception("could not enqueue webhook deliveries to %s endpoints", len(ids))
