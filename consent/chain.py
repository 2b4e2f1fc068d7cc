"""The hash chain that makes each contact's ledger tamper-evident."""

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from .models import ConsentEvent


def instant_text(value: datetime | None) -> str | None:
    """An instant as the ledger writes it everywhere: UTC, microseconds, `+00:00`."""
    return value.astimezone(UTC).isoformat(timespec="microseconds") if value else None


def instant_sql(sql: str) -> str:
    """`instant_text` of the PostgreSQL timestamptz expression `sql`, in SQL."""
    return f"(to_char(({sql}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00')"


# The chained fields, in the order an auditor reads them. Bulk writers (imports)
# and streaming verifiers hash plain rows with `chained_hash` and must agree
# with `event_hash` on a model instance. Form 3 (every event written since topics
# arrived) chains the topic an event is about (null: the purpose itself). Form 2
# chained a salted digest of the personal evidence and no topic; form 1 (older
# events) chained the evidence itself. Both are kept so their events still verify.
CHAINED_FIELDS = (
    "id",
    "contact",
    "seq",
    "purpose",
    "topic",
    "action",
    "source",
    "notice",
    "occurred_at",
    "recorded_at",
    "expires_at",
    "paused_until",
    "wamid",
    "prompted_by_wamid",
    "context",
    "actor",
    "idempotency_key",
    "applied",
    "status_after",
    "form",
    "evidence_digest",
    "prev_hash",
)
CHAINED_FIELDS_V2 = tuple(name for name in CHAINED_FIELDS if name != "topic")
PERSONAL_FIELDS = ("ip", "user_agent", "page_url", "note")
CHAINED_FIELDS_V1 = (
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
CURRENT_FORM = 3
FIELDS_OF_FORM = {1: CHAINED_FIELDS_V1, 2: CHAINED_FIELDS_V2, 3: CHAINED_FIELDS}
# The canonical form, once: each chained field's JSON kind, the keys sorted, these
# separators, no ASCII escaping. `canonical_bytes` writes it in Python; the import's
# SQL path (imports.setbased) writes the same text from these definitions.
# text: a JSON string or null; integer: a number or null; boolean: true/false;
# instant: UTC with microseconds and +00:00, as a string, or null; json: a JSON value.
FIELD_KINDS: dict[str, str] = {
    "id": "text",
    "contact": "text",
    "seq": "integer",
    "purpose": "text",
    "topic": "text",
    "action": "text",
    "source": "text",
    "notice": "integer",
    "occurred_at": "instant",
    "recorded_at": "instant",
    "expires_at": "instant",
    "paused_until": "instant",
    "wamid": "text",
    "prompted_by_wamid": "text",
    "context": "json",
    "actor": "integer",
    "idempotency_key": "text",
    "applied": "boolean",
    "status_after": "text",
    "form": "integer",
    "evidence_digest": "text",
    "prev_hash": "text",
}
SEPARATORS = (",", ":")
_INSTANTS = frozenset(name for name, kind in FIELD_KINDS.items() if kind == "instant")


def evidence_digest(salt: str, evidence: Mapping[str, Any]) -> str:
    """SHA-256 of the salt and the personal evidence; "" when there is none."""
    values = {name: evidence.get(name) or "" for name in PERSONAL_FIELDS}
    if not any(values.values()):
        return ""
    body = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((salt + body).encode()).hexdigest()


def seal_evidence(row: dict[str, Any]) -> dict[str, Any]:
    """Give a new plain row (form 2) its salt and digest from its personal fields."""
    if any(row.get(name) for name in PERSONAL_FIELDS):
        row["evidence_salt"] = secrets.token_hex(16)
        row["evidence_digest"] = evidence_digest(row["evidence_salt"], row)
    else:
        row["evidence_salt"], row["evidence_digest"] = "", ""
    row["form"] = CURRENT_FORM
    return row


def canonical_bytes(row: Mapping[str, Any]) -> bytes:
    """The canonical serialisation of one event given as plain values (ids as str / int).

    A row without `form` is a new one: its digest is taken from its personal
    fields (call `seal_evidence` first to keep the salt).
    """
    data = canonical_fields(row)
    return json.dumps(data, sort_keys=True, separators=SEPARATORS, ensure_ascii=False).encode()


def canonical_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """The chained fields of one event as the JSON values that are hashed (times as text)."""
    form = row.get("form") or CURRENT_FORM
    if form == CURRENT_FORM and "evidence_digest" not in row:
        seal_evidence(row)  # type: ignore[arg-type]
    # A row written by a bulk path that knows no topics is about the purpose itself.
    plain = {"topic": None, **row}
    data = {
        name: (instant_text(plain[name]) if name in _INSTANTS else plain[name])
        for name in FIELDS_OF_FORM[form]
        if name != "form"
    }
    if form != 1:
        data["form"] = form
    return data


def chained_hash(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(row)).hexdigest()


def event_row(event: ConsentEvent) -> dict[str, Any]:
    row = {
        "id": str(event.id),
        "contact": str(event.contact_id),
        "seq": event.seq,
        "purpose": event.purpose,
        "topic": event.topic,
        "action": event.action,
        "source": event.source,
        "notice": event.notice_id,
        "occurred_at": event.occurred_at,
        "recorded_at": event.recorded_at,
        "expires_at": event.expires_at,
        "paused_until": event.paused_until,
        "wamid": event.wamid,
        "prompted_by_wamid": event.prompted_by_wamid,
        "context": event.context,
        "actor": event.actor_id,
        "idempotency_key": event.idempotency_key,
        "applied": event.applied,
        "status_after": event.status_after,
        "form": event.form,
        "evidence_digest": event.evidence_digest,
        "prev_hash": event.prev_hash,
    }
    for name in PERSONAL_FIELDS:
        row[name] = getattr(event, name)
    return row


def unverifiable(row: Mapping[str, Any]) -> bool:
    """A form-1 event whose evidence was erased: only its links can be checked."""
    return row.get("form") == 1 and row.get("evidence_erased_at") is not None


def canonical_form(event: ConsentEvent) -> bytes:
    """Every chained field of the event, in a fixed serialisation."""
    return canonical_bytes(event_row(event))


def event_hash(event: ConsentEvent) -> str:
    return hashlib.sha256(canonical_form(event)).hexdigest()


def _evidence_matches(event: ConsentEvent) -> bool:
    personal = event._personal()
    if event.form == 1 or personal is None or personal.erased_at is not None:
        return event.form == 1 or personal is not None or not event.evidence_digest
    return evidence_digest(personal.salt, event_row(event)) == event.evidence_digest


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
    events = (
        ConsentEvent.objects.filter(contact_id=contact_id)
        .select_related("personal_evidence")
        .order_by("seq")
    )
    for expected_seq, event in enumerate(events.iterator(chunk_size=500), start=1):
        count += 1
        problem = ""
        if event.seq != expected_seq:
            problem = f"event #{expected_seq} is missing (found #{event.seq})"
        elif event.prev_hash != prev_hash:
            problem = "prev_hash does not match the previous event"
        elif event.hash != event_hash(event) and not (
            event.form == 1 and event.evidence_erased_at is not None
        ):
            problem = "stored fields do not match the event's hash"
        elif not _evidence_matches(event):
            problem = "the evidence does not match the event's digest"
        if problem:
            return ChainCheck(contact_id, False, count, event.id, problem)
        prev_hash = event.hash
    return ChainCheck(contact_id, True, count)
