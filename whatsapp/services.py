"""Writes of the WhatsApp channel: store inbound deliveries first, then process them."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.inputs import storable_text
from staff.audit import record_audit

from . import sql
from .events import InboundMessage, TemplateUpdate
from .handlers import dispatch, may_carry_opt_out, through_business_number
from .message_templates import apply_template_update
from .models import InboundEvent, ServiceWindow, WebhookDelivery
from .parsing import Item, business_number_of, loose_identifiers, parse_event, split_delivery
from .sending_numbers import apply_number_update

logger = logging.getLogger(__name__)


class MalformedDelivery(ValueError):
    """A stored body that cannot be read as a webhook delivery."""


@dataclass(frozen=True)
class StoredDelivery:
    delivery_id: int | None
    new_ids: list[int]
    malformed: bool = False


# Longer integers are kept as their digits: Python refuses to parse > 4300 digits
# and nothing Meta sends is a number that long.
_MAX_INT_DIGITS = 30


def _int(text: str) -> int | str:
    return int(text) if len(text.lstrip("-")) <= _MAX_INT_DIGITS else text


def _float(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else text


def storable(value: Any) -> Any:
    """`value` with every string made storable (NUL, lone surrogates), structure unchanged."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_text(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def read_body(body: bytes) -> Any:
    """A webhook body as JSON whose every value the database accepts, or MalformedDelivery.

    NaN, Infinity and over-long numbers are kept as text; a nesting deeper than
    Python's recursion limit is not a delivery.
    """
    try:
        data = json.loads(
            body.decode("utf-8", errors="strict"),
            parse_int=_int,
            parse_float=_float,
            parse_constant=str,
        )
        return storable(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise MalformedDelivery(f"{type(error).__name__}: {str(error)[:300]}") from error


def store_delivery(*, body: bytes) -> StoredDelivery:
    """The one way a signed delivery is stored: its raw body, and each item of it once.

    Nothing is acknowledged before the raw body is kept, so whatever follows, the
    delivery is never lost: a body that cannot be read is kept as malformed and
    listed (it may hold an opt-out). A duplicate item (Meta retries for days) hits
    the unique dedupe key and is skipped; an item the database refuses never blocks
    the STOP beside it.

    On PostgreSQL the raw body and its items go in one statement, stored together or
    not at all (the webhook's fast path). On SQLite, and whenever the database refuses
    a value of that statement, the raw body is written alone and each item goes in its
    own savepoint (outside a transaction each step commits on its own).
    """
    try:
        items = items_of(body)
    except MalformedDelivery as error:
        delivery = WebhookDelivery.objects.create(
            body=body, state=WebhookDelivery.State.MALFORMED, error=str(error)
        )
        _list_malformed(delivery, error)
        return StoredDelivery(delivery.pk, [], malformed=True)
    stored = sql.insert_delivery_with_items(body, items)
    if stored is not None:
        delivery_id, ids = stored
        return StoredDelivery(delivery_id, ids)
    delivery = WebhookDelivery.objects.create(body=body, state=WebhookDelivery.State.SPLIT)
    return StoredDelivery(delivery.pk, _store_items(items, delivery))


def items_of(body: bytes) -> list[Item]:
    """The items of a delivery's raw body, or MalformedDelivery when it does not read."""
    data = read_body(body)
    try:
        return split_delivery(data)
    except Exception as error:  # any shape we cannot split: kept and listed for staff
        raise MalformedDelivery(f"unreadable shape: {error}") from error


def _store_items(items: list[Item], delivery: WebhookDelivery) -> list[int]:
    """Each item of a kept delivery in its own savepoint; the ids of the new rows."""
    with transaction.atomic():
        return [pk for item in items if (pk := _insert(item, delivery=delivery)) is not None]


def _list_malformed(delivery: WebhookDelivery, error: MalformedDelivery) -> None:
    """List an unreadable body for staff: it may hold an opt-out from whoever it names."""
    digest = hashlib.sha256(bytes(delivery.body)).hexdigest()
    _insert(
        Item(
            InboundEvent.Kind.MALFORMED,
            f"malformed:{digest}",
            "",
            {},
            sender=loose_identifiers(bytes(delivery.body)),
        ),
        delivery=delivery,
        state=InboundEvent.State.FAILED,
        error=f"not a readable delivery: {error}",
        carries_opt_out=True,
    )


def _insert(item: Item, **fields: Any) -> int | None:
    try:
        # A savepoint, so a duplicate does not break the caller's transaction.
        with transaction.atomic():
            row = InboundEvent.objects.create(
                kind=item.kind,
                dedupe_key=item.dedupe_key[:400],
                wamid=item.wamid[:256],
                payload=item.payload or None,
                sender=item.sender,
                sender_user_id=item.sender_user_id[:128],
                **fields,
            )
    except IntegrityError:
        return None
    except DatabaseError as error:
        # A value the database refuses although it was made storable: keep the
        # item's place (the raw body is on the delivery) and list it.
        logger.exception("inbound item %s refused by the database", item.dedupe_key[:80])
        try:
            with transaction.atomic():
                row = InboundEvent.objects.create(
                    kind=InboundEvent.Kind.MALFORMED,
                    dedupe_key=f"unstorable:{hashlib.sha256(item.dedupe_key.encode()).hexdigest()}",
                    wamid=storable_text(item.wamid)[:256],
                    sender=storable_text(item.sender),
                    sender_user_id=storable_text(item.sender_user_id)[:128],
                    delivery=fields.get("delivery"),
                    state=InboundEvent.State.FAILED,
                    error=f"refused by the database: {type(error).__name__}",
                    carries_opt_out=True,
                )
        except IntegrityError:
            return None
        return None
    return row.pk if row.state == InboundEvent.State.RECEIVED else None


def process_inbound_event(*, event_id: int, retry_failed: bool = False, actor: Any = None) -> bool:
    """Run the handlers for one stored event; True when it was processed now.

    `actor`: the staff user who asked for it again (audited with the processing).

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
            if actor is not None:
                record_audit(actor=actor, action="reprocess_inbound_event", obj=event)
            _handle(event)
    except Exception as error:
        logger.exception("processing inbound event %s failed", event_id)
        _mark_failed(event_id, error)
        return False
    return True


# A failed item is tried again after 1, 2, 4 … minutes, at most 12 hours apart;
# after MAX_ATTEMPTS it waits for staff (and is listed if it may be an opt-out).
MAX_ATTEMPTS = 10
_MAX_BACKOFF = timedelta(hours=12)


def backoff(attempts: int) -> timedelta:
    """The wait after `attempts` failed attempts: 1, 2, 4 … minutes, at most 12 hours."""
    doublings = min(max(attempts - 1, 0), 10)  # 2**10 minutes is past the cap already
    return min(timedelta(minutes=2**doublings), _MAX_BACKOFF)


def _mark_failed(event_id: int, error: Exception) -> None:
    row = InboundEvent.objects.filter(pk=event_id).values("kind", "payload", "attempts").first()
    if row is None:
        return
    attempts = row["attempts"] + 1
    InboundEvent.objects.filter(pk=event_id).update(
        state=InboundEvent.State.FAILED,
        attempts=attempts,
        processed_at=None,
        error=storable_text(_describe(error)),
        retry_at=timezone.now() + backoff(attempts) if attempts < MAX_ATTEMPTS else None,
        carries_opt_out=may_carry_opt_out(row["kind"], row["payload"] or {}),
    )


def _handle(event: InboundEvent) -> None:
    if event.kind == InboundEvent.Kind.MALFORMED:
        raise MalformedDelivery("the body was not JSON; nothing to process")
    if event.kind == InboundEvent.Kind.NUMBER_UPDATE:
        apply_number_update(payload=event.payload or {})
        return
    typed = parse_event(event.kind, event.payload or {})
    if typed is None:
        return
    if isinstance(typed, TemplateUpdate):
        # The registry is the channel's own: applied here, then told to other apps.
        apply_template_update(update=typed)
        return
    if isinstance(typed, InboundMessage) and typed.opens_service_window:
        open_service_window(
            recipients=[typed.wa_id, typed.user_id], last_inbound_at=typed.timestamp
        )
    with through_business_number(business_number_of(event.payload)):
        dispatch(event.kind, typed)


def _describe(error: Exception) -> str:
    frames = traceback.format_exception(type(error), error, error.__traceback__, limit=-3)
    return "".join(frames)[-4000:]


def reprocess_inbound_events(
    *, ids: Iterable[int] | None = None, include_received: bool = True, actor: Any = None
) -> int:
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
        done += process_inbound_event(event_id=pk, retry_failed=True, actor=actor)
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


RECEIVED_BATCH = 1000


def process_received() -> tuple[int, int]:
    """Items still `received`, oldest first, one batch: (processed now, found)."""
    waiting = InboundEvent.objects.filter(state=InboundEvent.State.RECEIVED)
    oldest_first = waiting.order_by("received_at", "pk").values_list("pk", flat=True)
    found = list(oldest_first[:RECEIVED_BATCH])
    return sum(process_inbound_event(event_id=pk) for pk in found), len(found)


def process_stragglers(*, older_than_seconds: int | None = None, limit: int = 1000) -> int:
    """The safety net: what an enqueue lost, and failed items whose retry time has come.

    Deliveries stored but never split are split first, whatever their age (nothing
    splits them any more once their request died). Rows still `received` a few
    seconds after arrival (the broker was down, the worker was killed, the task was
    lost) are processed now; a failed item is retried with backoff (`backoff`)
    up to MAX_ATTEMPTS. Every outbox sweep runs this before it requeues anything.
    """
    if older_than_seconds is None:
        older_than_seconds = settings.WHATSAPP_INBOUND_SWEEP_AFTER
    now = timezone.now()
    cutoff = now - timedelta(seconds=older_than_seconds)
    unsplit = WebhookDelivery.objects.filter(state=WebhookDelivery.State.STORED)
    for delivery_id in unsplit.order_by("received_at").values_list("pk", flat=True)[:limit]:
        split_stored_delivery(delivery_id=delivery_id)
    waiting = InboundEvent.objects.filter(state=InboundEvent.State.RECEIVED, received_at__lt=cutoff)
    due = InboundEvent.objects.filter(
        state=InboundEvent.State.FAILED, retry_at__lte=now, attempts__lt=MAX_ATTEMPTS
    ).exclude(kind=InboundEvent.Kind.MALFORMED)
    done = 0
    for pk in waiting.order_by("received_at", "pk").values_list("pk", flat=True)[:limit]:
        done += process_inbound_event(event_id=pk)
    for pk in due.order_by("retry_at").values_list("pk", flat=True)[:limit]:
        done += process_inbound_event(event_id=pk, retry_failed=True)
    return done


# --- Before a message leaves: what its recipient sent us comes first ----------------------


def settle_inbound_from(*, recipient: str) -> bool:
    """Process now what is stored and unprocessed from `recipient`; True when none is left.

    Asked by the outbox just before each message to a person goes (`to` is a wa_id,
    phone digits or a business-scoped user id): a STOP stored and answered 200 but
    not yet processed (its task lost with the broker, its worker killed) must win
    over the message. Unprocessed items from that id (by either id the item named)
    are processed here, in order; False (the message waits) while any of them that
    may be an opt-out is still not processed: one failing again, one whose retry is
    not due, or an unreadable body naming this id (which waits for staff). Deliveries
    stored but not split yet may hold anyone's STOP: they are split first.

    The usual answer costs one indexed query that finds nothing.
    """
    if not recipient:
        return True
    pending = _unsettled_from(recipient)
    if not pending:
        return True
    if any(pk is None for pk, _ in pending):
        for delivery_id in WebhookDelivery.objects.filter(
            state=WebhookDelivery.State.STORED
        ).values_list("pk", flat=True):
            split_stored_delivery(delivery_id=delivery_id)
    now = timezone.now()
    items = InboundEvent.objects.filter(
        pk__in=[pk for pk, _ in _unsettled_from(recipient) if pk is not None]
    ).exclude(kind=InboundEvent.Kind.MALFORMED)
    for item in items.order_by("received_at", "pk"):
        if item.state == InboundEvent.State.RECEIVED:
            process_inbound_event(event_id=item.pk)
        elif item.retry_at is not None and item.retry_at <= now and item.attempts < MAX_ATTEMPTS:
            process_inbound_event(event_id=item.pk, retry_failed=True)
    return not _unsettled_from(recipient)


def _unsettled_from(recipient: str) -> list[tuple[int | None, str]]:
    """(id, state) of each unprocessed item from `recipient` that may hold its messages.

    `received` items (not judged yet), failed ones judged as possible opt-outs, and
    (None, "stored") for each delivery not split yet.
    """
    rows = sql.unsettled_rows(recipient)
    return [(pk if pk > 0 else None, state) for pk, state in rows]


@transaction.atomic
def split_stored_delivery(*, delivery_id: int) -> list[int]:
    """Split a delivery stored by a request that died before splitting it."""
    delivery = (
        WebhookDelivery.objects.select_for_update()
        .filter(pk=delivery_id, state=WebhookDelivery.State.STORED)
        .first()
    )
    if delivery is None:
        return []
    try:
        items = items_of(bytes(delivery.body))
    except MalformedDelivery as error:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=WebhookDelivery.State.MALFORMED, error=str(error)
        )
        _list_malformed(delivery, error)
        return []
    ids = _store_items(items, delivery)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state=WebhookDelivery.State.SPLIT)
    return ids
