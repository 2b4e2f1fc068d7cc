"""The hash chain that makes each contact's ledger tamper-evident."""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from .models import ConsentEvent


def _instant(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="microseconds") if value else None


# The chained fields, in the order an auditor reads them. Bulk writers (imports)
# and streaming verifiers hash plain rows with `chained_hash` and must agree
# with `event_hash` on a model instance.
CHAINED_FIELDS = (
    "id",
    "contact",
    "seq",
    "purpose",
    "action",
    "source",
    "notice",
    "occurred_at",
    "recorded_at",
    "expires_at",
    "paused_until",
    "ip",
    "user_agent",
    "page_url",
    "wamid",
    "prompted_by_wamid",
    "note",
    "context",
    "actor",
    "idempotency_key",
    "applied",
    "status_after",
    "prev_hash",
)
_INSTANTS = frozenset({"occurred_at", "recorded_at", "expires_at", "paused_until"})


def canonical_bytes(row: Mapping[str, Any]) -> bytes:
    """The canonical serialisation of one event given as plain values (ids as str / int)."""
    data = {
        name: (_instant(row[name]) if name in _INSTANTS else row[name]) for name in CHAINED_FIELDS
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chained_hash(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(row)).hexdigest()


def event_row(event: ConsentEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "contact": str(event.contact_id),
        "seq": event.seq,
        "purpose": event.purpose,
        "action": event.action,
        "source": event.source,
        "notice": event.notice_id,
        "occurred_at": event.occurred_at,
        "recorded_at": event.recorded_at,
        "expires_at": event.expires_at,
        "paused_until": event.paused_until,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "page_url": event.page_url,
        "wamid": event.wamid,
        "prompted_by_wamid": event.prompted_by_wamid,
        "note": event.note,
        "context": event.context,
        "actor": event.actor_id,
        "idempotency_key": event.idempotency_key,
        "applied": event.applied,
        "status_after": event.status_after,
        "prev_hash": event.prev_hash,
    }


def canonical_form(event: ConsentEvent) -> bytes:
    """Every chained field of the event, in a fixed serialisation."""
    return canonical_bytes(event_row(event))


def event_hash(event: ConsentEvent) -> str:
    return hashlib.sha256(canonical_form(event)).hexdigest()


@dataclass(frozen=True)
class ChainCheck:
    contact_id: UUID
    valid: bool
    events: int
    broken_event_id: UUID | None = None
    problem: str = ""


def check_chain(contact_id: UUID) -> ChainCheck:
    """Walk one contact's chain; report the first broken link."""
    prev_hash = None
    count = 0
    events = ConsentEvent.objects.filter(contact_id=contact_id).order_by("seq")
    for expected_seq, event in enumerate(events.iterator(chunk_size=500), start=1):
        count += 1
        problem = ""
        if event.seq != expected_seq:
            problem = f"event #{expected_seq} is missing (found #{event.seq})"
        elif event.prev_hash != prev_hash:
            problem = "prev_hash does not match the previous event"
        elif event.hash != event_hash(event):
            problem = "stored fields do not match the event's hash"
        if problem:
            return ChainCheck(contact_id, False, count, event.id, problem)
        prev_hash = event.hash
    return ChainCheck(contact_id, True, count)
