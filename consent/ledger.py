"""The hash chain that makes each contact's ledger tamper-evident."""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from .models import ConsentEvent


def _instant(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="microseconds") if value else None


def canonical_form(event: ConsentEvent) -> bytes:
    """Every stored field of the event, in a fixed serialisation."""
    data = {
        "id": str(event.id),
        "contact": str(event.contact_id),
        "seq": event.seq,
        "purpose": event.purpose,
        "action": event.action,
        "source": event.source,
        "notice": event.notice_id,
        "occurred_at": _instant(event.occurred_at),
        "recorded_at": _instant(event.recorded_at),
        "expires_at": _instant(event.expires_at),
        "paused_until": _instant(event.paused_until),
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
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


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
