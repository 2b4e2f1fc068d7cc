"""Delivering one change to one endpoint: claim, sign, POST, log, settle.

At least once: a worker that dies after the POST and before settling loses its claim at
`claimed_until`, and the sweep sends again (receivers dedupe by the event id). In order per
contact: a delivery is claimed only while no earlier change of its contact is still owed
to the same endpoint; settling one hands back the next (`Outcome.then`).
"""

import json
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache, partial
from typing import Any

import httpx
from django.conf import settings
from django.core.mail import mail_admins
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from staff.audit import record_audit

from .addresses import UnsafeAddress, check_endpoint_url
from .models import Delivery, DeliveryAttempt, DeliveryStatus, WebhookEndpoint
from .signing import EVENT_ID_HEADER, SIGNATURE_HEADER, signature_header

logger = logging.getLogger(__name__)

EXCERPT = 1000


@dataclass(frozen=True)
class Outcome:
    delivered: bool = False
    # Seconds until the next attempt, when there is one.
    retry_in: float | None = None
    # Deliveries that may go now: the next change of the same contact.
    then: list[int] = field(default_factory=list)


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


def claim(delivery_id: int, now: datetime) -> bool:
    """Take the delivery for this worker: a conditional UPDATE, so only one worker sends it."""
    hold = timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 60)
    with transaction.atomic():
        _no_flush_wait()
        taken = (
            Delivery.objects.filter(claimable(now), pk=delivery_id)
            .exclude(earlier_owed())
            .update(claimed_until=now + hold)
        )
    return taken == 1


def _no_flush_wait() -> None:
    """Commit without waiting for the disk: a claim or a settlement lost in a crash only
    sends the change again, which at-least-once delivery allows (receivers dedupe)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def deliver(delivery_id: int) -> Outcome:
    now = timezone.now()
    if not claim(delivery_id, now):
        return Outcome()
    delivery = Delivery.objects.select_related("endpoint", "change").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        Delivery.objects.filter(pk=delivery_id).update(claimed_until=None)
        return Outcome()
    body = json.dumps(delivery.change.payload(), separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "consent-crm-webhooks/1",
        SIGNATURE_HEADER: signature_header(
            body, secrets=endpoint.signing_secrets(now), timestamp=int(time.time())
        ),
        EVENT_ID_HEADER: str(delivery.change.event_id),
    }
    response = post(endpoint.url, body, headers)
    return settle(delivery, response, headers=headers, size=len(body))


def post(url: str, body: bytes, headers: dict[str, str]) -> Response:
    started = time.perf_counter()
    try:
        check_endpoint_url(url)
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
    return httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)


def _since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


@transaction.atomic
def settle(
    delivery: Delivery, response: Response, *, headers: dict[str, str], size: int
) -> Outcome:
    now = timezone.now()
    _no_flush_wait()
    DeliveryAttempt.objects.create(
        delivery=delivery,
        attempted_at=now,
        request_headers=headers,
        request_bytes=size,
        status_code=response.status_code,
        response_excerpt=response.excerpt,
        error=response.error,
        duration_ms=response.duration_ms,
    )
    mine = Delivery.objects.filter(pk=delivery.pk)
    settled = {
        "attempts": F("attempts") + 1,
        "claimed_until": None,
        "first_attempt_at": Coalesce(F("first_attempt_at"), now),
        "last_status_code": response.status_code,
        "last_error": response.error,
    }
    if response.ok:
        mine.update(status=DeliveryStatus.DELIVERED, delivered_at=now, **settled)
        if delivery.endpoint.failing_since is not None:
            WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(failing_since=None)
        return Outcome(delivered=True, then=_next_for_contact(delivery))

    WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, failing_since=None).update(
        failing_since=now
    )
    _disable_if_failing_too_long(delivery.endpoint_id, now)
    if now - (delivery.first_attempt_at or now) >= give_up_after():
        mine.update(status=DeliveryStatus.FAILED, **settled)
        return Outcome(then=_next_for_contact(delivery))
    delay = backoff(delivery.attempts + 1)
    mine.update(next_attempt_at=now + timedelta(seconds=delay), **settled)
    return Outcome(retry_in=delay)


def _next_for_contact(delivery: Delivery) -> list[int]:
    if delivery.contact_id is None:
        return []
    following = (
        Delivery.objects.filter(
            endpoint_id=delivery.endpoint_id,
            contact_id=delivery.contact_id,
            status=DeliveryStatus.PENDING,
        )
        .order_by("sequence")
        .values_list("pk", flat=True)[:1]
    )
    return list(following)


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


def stragglers(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Deliveries due for a while that no worker holds: their task was lost (or never sent)."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.WEBHOOK_SWEEP_GRACE_SECONDS)
    enabled = WebhookEndpoint.objects.filter(enabled=True).values("pk")
    return list(
        Delivery.objects.filter(claimable(now - grace), endpoint_id__in=enabled)
        .exclude(earlier_owed())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
