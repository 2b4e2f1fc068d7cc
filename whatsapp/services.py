"""Writes of the WhatsApp channel: store inbound deliveries first, then process them."""

from __future__ import annotations

import hashlib
import json
import logging
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .events import InboundMessage
from .handlers import dispatch
from .models import InboundEvent, ServiceWindow
from .parsing import Item, parse_event, split_delivery

logger = logging.getLogger(__name__)


class MalformedDelivery(ValueError):
    """A stored body that is not JSON."""


@dataclass(frozen=True)
class StoredDelivery:
    new_ids: list[int]
    malformed: bool = False


def store_delivery(*, body: bytes) -> StoredDelivery:
    """Store each item of a verified webhook body once; return the ids of new rows.

    A duplicate (Meta retries for days) hits the unique dedupe key and is skipped:
    the database decides, so concurrent deliveries of one item store one row. A
    body that is not JSON is stored as one `malformed` row for inspection.
    """
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        key = f"malformed:{hashlib.sha256(body).hexdigest()}"
        _insert(
            Item(InboundEvent.Kind.MALFORMED, key, "", {}),
            body=body.decode("utf-8", errors="replace"),
            state=InboundEvent.State.FAILED,
            error=f"malformed JSON: {error}",
        )
        return StoredDelivery([], malformed=True)
    ids = [pk for item in split_delivery(data) if (pk := _insert(item)) is not None]
    return StoredDelivery(ids)


def _insert(item: Item, **fields) -> int | None:
    try:
        # A savepoint, so a duplicate does not break the caller's transaction.
        with transaction.atomic():
            row = InboundEvent.objects.create(
                kind=item.kind,
                dedupe_key=item.dedupe_key[:400],
                wamid=item.wamid[:256],
                payload=item.payload or None,
                **fields,
            )
    except IntegrityError:
        return None
    return row.pk


def process_inbound_event(*, event_id: int, retry_failed: bool = False) -> bool:
    """Run the handlers for one stored event; True when it was processed now.

    The row is claimed with a conditional UPDATE, so two workers (or a retried
    task) never process it twice. A handler's exception rolls back everything
    the handlers did and leaves the row `failed` with the error, to be re-run.
    """
    claimable = [InboundEvent.State.RECEIVED]
    if retry_failed:
        claimable.append(InboundEvent.State.FAILED)
    try:
        with transaction.atomic():
            claimed = InboundEvent.objects.filter(pk=event_id, state__in=claimable).update(
                state=InboundEvent.State.PROCESSED,
                processed_at=timezone.now(),
                attempts=F("attempts") + 1,
                error="",
            )
            if claimed != 1:
                return False
            event = InboundEvent.objects.get(pk=event_id)
            _handle(event)
    except Exception as error:
        logger.exception("processing inbound event %s failed", event_id)
        InboundEvent.objects.filter(pk=event_id).update(
            state=InboundEvent.State.FAILED,
            attempts=F("attempts") + 1,
            processed_at=None,
            error=_describe(error),
        )
        return False
    return True


def _handle(event: InboundEvent) -> None:
    if event.kind == InboundEvent.Kind.MALFORMED:
        raise MalformedDelivery("the body was not JSON; nothing to process")
    typed = parse_event(event.kind, event.payload or {})
    if typed is None:
        return
    if isinstance(typed, InboundMessage):
        open_service_window(
            recipients=[typed.wa_id, typed.user_id], last_inbound_at=typed.timestamp
        )
    dispatch(event.kind, typed)


def _describe(error: Exception) -> str:
    frames = traceback.format_exception(type(error), error, error.__traceback__, limit=-3)
    return "".join(frames)[-4000:]


def reprocess_inbound_events(*, ids: Iterable[int] | None = None, include_received=True) -> int:
    """Re-run failed (and never processed) events; returns how many succeeded."""
    states = [InboundEvent.State.FAILED]
    if include_received:
        states.append(InboundEvent.State.RECEIVED)
    # A body that was not JSON has nothing to re-run; it stays for inspection.
    rows = InboundEvent.objects.filter(state__in=states).exclude(kind=InboundEvent.Kind.MALFORMED)
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    done = 0
    for pk in rows.order_by("received_at", "pk").values_list("pk", flat=True):
        done += process_inbound_event(event_id=pk, retry_failed=True)
    return done


def open_service_window(*, recipients: Iterable[str | None], last_inbound_at: datetime) -> None:
    """Record that these ids wrote to us at `last_inbound_at` (a later time never moves back)."""
    for recipient in {r for r in recipients if r}:
        updated = ServiceWindow.objects.filter(
            recipient=recipient, last_inbound_at__lt=last_inbound_at
        ).update(last_inbound_at=last_inbound_at)
        if updated:
            continue
        try:
            with transaction.atomic():
                ServiceWindow.objects.get_or_create(
                    recipient=recipient, defaults={"last_inbound_at": last_inbound_at}
                )
        except IntegrityError:
            # Created concurrently; the other writer's time is at least as recent.
            continue


def process_stragglers(*, older_than_seconds: int = 300, limit: int = 1000) -> int:
    """Process rows still `received` a while after arrival (an enqueue that was lost)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    rows = InboundEvent.objects.filter(state=InboundEvent.State.RECEIVED, received_at__lt=cutoff)
    ids = list(rows.order_by("received_at").values_list("pk", flat=True)[:limit])
    return sum(process_inbound_event(event_id=pk) for pk in ids)
