"""Webhook deliveries on the default queue; the work is in `integrations.delivery`."""

import logging
import math
import threading
import time
from collections.abc import Iterable
from typing import Any

from celery import current_app, shared_task

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


def enqueue_deliveries(endpoint_ids: Iterable[Any], *, countdown: float | None = None) -> None:
    """Deliver what these endpoints are owed: one message on the request's path, whatever
    the number of endpoints (a worker fans it out)."""
    ids = sorted({str(pk) for pk in endpoint_ids})
    if not ids:
        return
    try:
        if len(ids) == 1:
            deliver_to_endpoint.apply_async([ids[0]], countdown=countdown)
        else:
            deliver_to_endpoints.apply_async([ids], countdown=countdown)
    except Exception:
        # Stored and committed: the sweep enqueues them again.
        logger.exception("could not enqueue webhook deliveries to %s endpoints", len(ids))


# A burst of changes owed to an endpoint needs one task that starts after the last of them
# commits, not a message each: a message per change cost a consent a third of its time
# (bench/integrations.py). Per process: the first change of a quiet spell is sent at once;
# later ones within COALESCE_SECONDS share one task sent with that countdown, which starts
# after every commit it covers. Lost messages are the sweep's, as before.
COALESCE_SECONDS = 1.0
_coalescing = threading.Lock()
_sent_at: dict[str, float] = {}
_covered_until: dict[str, float] = {}


def enqueue_deliveries_soon(endpoint_ids: Iterable[Any]) -> None:
    """`enqueue_deliveries` after a commit that owed these endpoints deliveries, coalesced."""
    if current_app.conf.task_always_eager:
        # Nothing waits in a queue to share: the task runs here, now.
        enqueue_deliveries(endpoint_ids)
        return
    now, at_once, later = time.monotonic(), [], []
    with _coalescing:
        for pk in {str(pk) for pk in endpoint_ids}:
            if _covered_until.get(pk, -math.inf) > now:
                continue  # a task of this process starts after this commit
            if now - _sent_at.get(pk, -math.inf) >= COALESCE_SECONDS:
                at_once.append(pk)
                _sent_at[pk] = now
            else:
                later.append(pk)
                _covered_until[pk] = now + COALESCE_SECONDS
    enqueue_deliveries(at_once)
    enqueue_deliveries(later, countdown=COALESCE_SECONDS)
