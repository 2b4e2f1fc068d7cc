"""Delivering changes to an endpoint, in batches: claim, sign, POST, log, settle.

At least once: a worker that dies after the POST and before settling loses its claim at
`claimed_until`, and the sweep sends again (receivers dedupe by the event id). In order per
contact: a delivery is claimed only while no earlier change of its contact is still owed
to the same endpoint, so a batch holds at most one change per contact and the next
comes in the next batch.
"""

import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, partial
from typing import Any, cast

import httpx
from django.conf import settings
from django.core.mail import mail_admins
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from staff.audit import record_audit

from . import sql
from .addresses import CheckedConnections, UnsafeAddress, check_endpoint_url
from .models import Delivery, DeliveryAttempt, DeliveryStatus, WebhookEndpoint
from .signing import EVENT_ID_HEADER, SIGNATURE_HEADER, signature_header

logger = logging.getLogger(__name__)

EXCERPT = 1000
BATCH = 100
# A batch stops posting after this many timeouts' worth of time (a slow endpoint).
SENDING_ROUNDS = 2


@dataclass(frozen=True)
class Outcome:
    claimed: int = 0
    delivered: int = 0
    # Seconds until the soonest next attempt, when one failed.
    retry_in: float | None = None


@dataclass(frozen=True)
class Response:
    status_code: int | None
    excerpt: str = ""
    error: str = ""
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def give_up_after() -> timedelta:
    return timedelta(hours=settings.WEBHOOK_GIVE_UP_AFTER_HOURS)


def backoff(attempts: int) -> float:
    """Exponential, capped, with jitter: retries of many deliveries do not arrive together."""
    ceiling = min(
        settings.WEBHOOK_RETRY_MAX_SECONDS,
        settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** min(attempts - 1, 30),
    )
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (jitter, not a secret)


def earlier_owed() -> Exists:
    """An earlier change of the same contact still owed to the same endpoint."""
    return Exists(
        Delivery.objects.filter(
            endpoint_id=OuterRef("endpoint_id"),
            contact_id=OuterRef("contact_id"),
            sequence__lt=OuterRef("sequence"),
            status=DeliveryStatus.PENDING,
        )
    )


def claimable(now: datetime) -> Q:
    return Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )


def claim(endpoint_id: Any, now: datetime, limit: int) -> list[int]:
    """Take up to `limit` of the endpoint's due deliveries for this worker, at most one per
    contact (the earliest owed): a conditional UPDATE, so no two workers send the same."""
    candidates = list(
        Delivery.objects.filter(claimable(now), endpoint_id=endpoint_id)
        .exclude(earlier_owed())
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    if not candidates:
        return []
    # The claim's own end time tells its rows apart from another worker's. A batch posts
    # for at most SENDING_ROUNDS timeouts (what is left is released), so a worker that died
    # holds its batch no longer than this.
    hold = timedelta(
        seconds=settings.WEBHOOK_TIMEOUT_SECONDS * (SENDING_ROUNDS + 1) + 60,
        microseconds=random.randrange(1_000_000),  # noqa: S311 (a tag, not a secret)
    )
    with transaction.atomic():
        _no_flush_wait()
        Delivery.objects.filter(claimable(now), pk__in=candidates).exclude(earlier_owed()).update(
            claimed_until=now + hold
        )
    return list(
        Delivery.objects.filter(pk__in=candidates, claimed_until=now + hold).values_list(
            "pk", flat=True
        )
    )


def _no_flush_wait() -> None:
    """Commit without waiting for the disk: a claim or a settlement lost in a crash only
    sends the change again, which at-least-once delivery allows (receivers dedupe)."""
    sql.commit_without_flush_wait()


def deliver(endpoint_id: Any, *, limit: int = BATCH) -> Outcome:
    """Deliver what is due to one endpoint: claim a batch, POST each over one connection,
    settle them all in one transaction (the database work is shared by the batch)."""
    now = timezone.now()
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True).first()
    if endpoint is None:
        return Outcome()
    ids = claim(endpoint_id, now, limit)
    if not ids:
        return Outcome()
    secrets = endpoint.signing_secrets(now)
    sent, unsent = [], []
    started = time.monotonic()
    budget = settings.WEBHOOK_TIMEOUT_SECONDS * SENDING_ROUNDS
    for delivery in Delivery.objects.filter(pk__in=ids).select_related("change").order_by("id"):
        if time.monotonic() - started > budget:
            unsent.append(delivery.pk)
            continue
        body = json.dumps(delivery.change.payload(), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "consent-crm-webhooks/1",
            SIGNATURE_HEADER: signature_header(body, secrets=secrets, timestamp=int(time.time())),
            EVENT_ID_HEADER: str(delivery.change.event_id),
        }
        sent.append((delivery, post(endpoint.url, body, headers), headers, len(body)))
    Delivery.objects.filter(pk__in=unsent).update(claimed_until=None)
    return settle(endpoint, sent)


def post(url: str, body: bytes, headers: dict[str, str]) -> Response:
    started = time.perf_counter()
    try:
        check_endpoint_url(url, resolving=False)
        with client(settings.WEBHOOK_TIMEOUT_SECONDS).stream(
            "POST", url, content=body, headers=headers
        ) as answer:
            excerpt = b""
            for chunk in answer.iter_bytes():
                excerpt += chunk
                if len(excerpt) >= EXCERPT:
                    break
        return Response(
            answer.status_code,
            excerpt=excerpt[:EXCERPT].decode("utf-8", "replace"),
            duration_ms=_since(started),
        )
    except UnsafeAddress as refused:
        return Response(None, error=f"refused: {refused}", duration_ms=_since(started))
    except httpx.HTTPError as error:
        message = f"{type(error).__name__}: {error}"[:500]
        return Response(None, error=message, duration_ms=_since(started))


@cache
def client(timeout: float) -> httpx.Client:
    # One per worker process: connections to an endpoint are kept and reused.
    transport = httpx.HTTPTransport()
    # httpx takes no network backend; its pool does, and every connection reads it there.
    transport._pool._network_backend = CheckedConnections()
    return httpx.Client(
        timeout=timeout, follow_redirects=False, trust_env=False, transport=transport
    )


def _since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


@transaction.atomic
def settle(
    endpoint: WebhookEndpoint, sent: list[tuple[Delivery, Response, dict[str, str], int]]
) -> Outcome:
    now = timezone.now()
    _no_flush_wait()
    DeliveryAttempt.objects.bulk_create(
        [
            DeliveryAttempt(
                delivery=delivery,
                attempted_at=now,
                request_headers=headers,
                request_bytes=size,
                status_code=response.status_code,
                response_excerpt=response.excerpt,
                error=response.error,
                duration_ms=response.duration_ms,
            )
            for delivery, response, headers, size in sent
        ]
    )
    settled = {
        "attempts": F("attempts") + 1,
        "claimed_until": None,
        "first_attempt_at": Coalesce(F("first_attempt_at"), now),
    }
    delivered: dict[int, list[int]] = {}
    failed = []
    for delivery, response, _, _ in sent:
        if response.ok:
            delivered.setdefault(cast(int, response.status_code), []).append(delivery.pk)
        else:
            failed.append((delivery, response))
    for code, ids in delivered.items():
        Delivery.objects.filter(pk__in=ids).update(
            status=DeliveryStatus.DELIVERED,
            delivered_at=now,
            last_status_code=code,
            last_error="",
            **settled,
        )
    if delivered and endpoint.failing_since is not None and not failed:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
    retry_in = None
    if failed:
        WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since=None).update(failing_since=now)
        _disable_if_failing_too_long(endpoint.pk, now)
    for delivery, response in failed:
        mine = Delivery.objects.filter(pk=delivery.pk)
        about = {"last_status_code": response.status_code, "last_error": response.error}
        if now - (delivery.first_attempt_at or now) >= give_up_after():
            mine.update(status=DeliveryStatus.FAILED, **about, **settled)
            continue
        delay = backoff(delivery.attempts + 1)
        mine.update(next_attempt_at=now + timedelta(seconds=delay), **about, **settled)
        retry_in = delay if retry_in is None else min(retry_in, delay)
    return Outcome(
        claimed=len(sent), delivered=sum(len(ids) for ids in delivered.values()), retry_in=retry_in
    )


def _disable_if_failing_too_long(endpoint_id: Any, now: datetime) -> None:
    reason = (
        f"disabled after failing for {settings.WEBHOOK_GIVE_UP_AFTER_HOURS} hours "
        f"({now:%Y-%m-%d %H:%M} UTC)"
    )
    disabled = WebhookEndpoint.objects.filter(
        pk=endpoint_id, enabled=True, failing_since__lte=now - give_up_after()
    ).update(enabled=False, disabled_reason=reason)
    if not disabled:
        return
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    record_audit(
        actor=None,
        action="disable_webhook_endpoint",
        obj=endpoint,
        before={"enabled": True},
        after={"enabled": False, "reason": reason},
    )
    logger.error("webhook endpoint %s (%s) %s", endpoint.pk, endpoint.url, reason)
    transaction.on_commit(
        partial(
            mail_admins,
            f"Webhook endpoint disabled: {endpoint.url}",
            f"{endpoint.url} {reason}. Its changes are kept: re-enable it in the admin, "
            "and they are delivered in order.",
            fail_silently=True,
        )
    )


def stragglers(*, now: datetime | None = None) -> list[Any]:
    """Endpoints with deliveries due for a while that no worker holds: their task was lost
    (or never sent, or a retry waits longer than a countdown)."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.WEBHOOK_SWEEP_GRACE_SECONDS)
    enabled = WebhookEndpoint.objects.filter(enabled=True).values("pk")
    return list(
        Delivery.objects.filter(claimable(now - grace), endpoint_id__in=enabled)
        .values_list("endpoint_id", flat=True)
        .distinct()
    )
