"""What one checked row does to its contact and ledger, decided before anything is written.

The fast path writes these plans in bulk; a dry run only counts them. Events are
weighed with `consent.ordering.weigh` (the rule `record_consent` applies) and
hashed with `consent.chain.chained_hash`, continuing each contact's chain.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import OuterRef, Subquery

from consent.chain import chained_hash
from consent.models import ConsentEvent, ConsentState
from consent.ordering import Standing, Weighed, effective_time, weigh
from consent.rules import Action, IllegalTransition, Source, Status
from contacts.models import Contact

from .columns import ConsentLine, ContactLine
from .report import RowProblem

IDENTIFIER_FIELDS = ("phone", "wa_id", "whatsapp_user_id")


@dataclass
class Snapshot:
    """What the import needs to know of an existing contact."""

    id: uuid.UUID
    phone: str | None
    wa_id: str | None
    whatsapp_user_id: str | None
    external_id: str | None
    name: str
    language: str
    attributes: dict[str, Any]
    tags: set[str] = field(default_factory=set)
    standings: dict[str, Standing] = field(default_factory=dict)
    head_seq: int = 0
    head_hash: str | None = None
    import_keys: set[str] = field(default_factory=set)


def load_snapshots(ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Snapshot]:
    """Snapshots of these contacts in a constant number of queries."""
    ids = list(ids)
    if not ids:
        return {}
    found = {
        row["id"]: Snapshot(
            id=row["id"],
            phone=str(row["phone"]) if row["phone"] else None,
            wa_id=row["wa_id"],
            whatsapp_user_id=row["whatsapp_user_id"],
            external_id=row["external_id"],
            name=row["name"],
            language=row["language"],
            attributes=row["attributes"] or {},
        )
        for row in Contact.objects.filter(pk__in=ids).values(
            "id",
            "phone",
            "wa_id",
            "whatsapp_user_id",
            "external_id",
            "name",
            "language",
            "attributes",
        )
    }
    through = Contact.tags.through
    for contact_id, name in through.objects.filter(contact_id__in=ids).values_list(
        "contact_id", "tag__name"
    ):
        found[contact_id].tags.add(name)
    for contact_id, purpose, status, latest_at, permissive_at in ConsentState.objects.filter(
        contact_id__in=ids
    ).values_list("contact_id", "purpose", "status", "latest_at", "permissive_at"):
        found[contact_id].standings[purpose] = Standing(Status(status), latest_at, permissive_at)
    latest = ConsentEvent.objects.filter(contact_id=OuterRef("contact_id")).order_by("-seq")
    for contact_id, seq, digest in ConsentEvent.objects.filter(
        contact_id__in=ids, seq=Subquery(latest.values("seq")[:1])
    ).values_list("contact_id", "seq", "hash"):
        found[contact_id].head_seq, found[contact_id].head_hash = seq, digest
    for contact_id, key in ConsentEvent.objects.filter(
        contact_id__in=ids, source=Source.IMPORT
    ).values_list("contact_id", "context__import__key"):
        if key:
            found[contact_id].import_keys.add(key)
    return found


@dataclass(frozen=True)
class PlanContext:
    now: datetime
    deadline: datetime | None
    file_name: str
    actor_id: int | None
    default_language: str
    # Rows with problems are left out, the others written (otherwise all or nothing).
    valid_rows_only: bool = False


def import_key(contact_id: uuid.UUID, consent: ConsentLine) -> str:
    """The same answer about the same contact from any file: importing it again adds nothing."""
    content = [
        str(contact_id),
        consent.purpose,
        consent.action,
        consent.occurred_at.isoformat() if consent.occurred_at else "",
        consent.notice_id,
        consent.wording,
        consent.origin,
        consent.note,
    ]
    return hashlib.sha256(json.dumps(content, separators=(",", ":")).encode()).hexdigest()


def event_context(key: str, consent: ConsentLine, file_name: str, row: int) -> dict[str, Any]:
    about: dict[str, Any] = {"key": key, "file": file_name, "row": row}
    if consent.origin:
        about["source"] = consent.origin
    if consent.wording:
        about["wording"] = consent.wording
    return {"import": about}


@dataclass
class ContactChanges:
    values: dict[str, Any]
    new_tags: list[str]

    def __bool__(self) -> bool:
        return bool(self.values or self.new_tags)


def contact_changes(line: ContactLine, known: Snapshot) -> tuple[ContactChanges, list[RowProblem]]:
    """Non-empty cells overwrite; identifiers the contact lacks are filled, never replaced."""
    problems: list[RowProblem] = []
    values: dict[str, Any] = {}
    for column in IDENTIFIER_FIELDS:
        ours, theirs = getattr(known, column), getattr(line, column)
        derived = getattr(line, f"{column}_derived", False)
        if theirs is None or ours == theirs:
            continue
        if ours is None:
            if column == "wa_id" and derived and line.wa_id_taken:
                continue
            values[column] = theirs
            if column == "phone":
                values["phone_hash"] = line.phone_hash
        elif not derived:
            problems.append(
                RowProblem(
                    line.row,
                    column,
                    f"the contact this row names has {column} {ours}, not {theirs}",
                )
            )
    for column in ("name", "language", "external_id"):
        theirs = getattr(line, column)
        if theirs and theirs != getattr(known, column):
            values[column] = theirs
    merged = {**known.attributes, **line.attributes}
    if merged != known.attributes:
        values["attributes"] = merged
    return ContactChanges(values, sorted(set(line.tags) - known.tags)), problems


def new_contact_values(line: ContactLine, ctx: PlanContext) -> dict[str, Any]:
    wa_id = None if line.wa_id_derived and line.wa_id_taken else line.wa_id
    return {
        "id": line.new_id,
        "phone": line.phone,
        "phone_hash": line.phone_hash,
        "wa_id": wa_id,
        "whatsapp_user_id": line.whatsapp_user_id,
        "external_id": line.external_id,
        "name": line.name,
        "language": line.language or ctx.default_language,
        "attributes": line.attributes,
        "link_secret": line.link_secret,
        "created_at": ctx.now,
        "updated_at": ctx.now,
    }


@dataclass
class LinePlan:
    row: int
    contact_id: uuid.UUID
    created: bool
    contact_values: dict[str, Any]
    new_tags: list[str]
    events: list[dict[str, Any]] = field(default_factory=list)
    # purpose -> (standing reached, the event that reached it)
    states: dict[str, tuple[Standing, dict[str, Any]]] = field(default_factory=dict)
    outranked: list[dict[str, Any]] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)

    @property
    def changes_anything(self) -> bool:
        return self.created or bool(self.contact_values or self.new_tags or self.events)

    @property
    def unapplied(self) -> int:
        return sum(1 for event in self.events if not event["applied"])


def plan_line(
    line: ContactLine,
    known: Snapshot | None,
    ctx: PlanContext,
) -> tuple[LinePlan | None, list[RowProblem]]:
    if known is None:
        plan = LinePlan(line.row, line.new_id, True, new_contact_values(line, ctx), list(line.tags))
        standings: dict[str, Standing] = {}
        seq, prev_hash, keys = 0, None, set()
    else:
        changes, problems = contact_changes(line, known)
        if problems:
            return None, problems
        plan = LinePlan(line.row, known.id, False, changes.values, changes.new_tags)
        standings = dict(known.standings)
        seq, prev_hash, keys = known.head_seq, known.head_hash, set(known.import_keys)
    for consent in line.consents:
        key = import_key(plan.contact_id, consent)
        if key in keys:
            continue
        keys.add(key)
        standing = standings.get(consent.purpose, Standing())
        weighed = _weigh(standing, consent, ctx)
        seq += 1
        event = _ledger_event(plan.contact_id, seq, consent, key, weighed, prev_hash, line.row, ctx)
        event["hash"] = prev_hash = chained_hash(event)
        plan.events.append(event)
        if weighed.applied:
            standings[consent.purpose] = weighed.standing
            plan.states[consent.purpose] = (weighed.standing, event)
            if consent.action == Action.WITHDRAW:
                plan.withdrawn.append(consent.purpose)
        elif weighed.outranked:
            plan.outranked.append(event)
    return plan, []


def _weigh(standing: Standing, consent: ConsentLine, ctx: PlanContext) -> Weighed:
    """Where the consent lands on the contact's standing for its purpose, as of now."""
    occurred_at = consent.occurred_at or ctx.now
    try:
        return weigh(
            standing,
            consent.action,
            effective_time(occurred_at, ctx.now),
            purpose=consent.purpose,
        )
    except IllegalTransition:
        # Kept as evidence, as record_consent(keep_if_inapplicable=True) keeps it.
        return Weighed(False, standing)


def _ledger_event(
    contact_id: uuid.UUID,
    seq: int,
    consent: ConsentLine,
    key: str,
    weighed: Weighed,
    prev_hash: str | None,
    row: int,
    ctx: PlanContext,
) -> dict[str, Any]:
    """The consent as the ledger's event (its chained fields), before its hash."""
    return {
        "id": str(uuid.uuid4()),
        "contact": str(contact_id),
        "seq": seq,
        "purpose": consent.purpose,
        "action": consent.action,
        "source": Source.IMPORT.value,
        "notice": consent.notice_id,
        "occurred_at": consent.occurred_at or ctx.now,
        "recorded_at": ctx.now,
        "expires_at": ctx.deadline if consent.action == Action.LEGACY else None,
        "paused_until": None,
        "ip": "",
        "user_agent": "",
        "page_url": "",
        "wamid": "",
        "prompted_by_wamid": "",
        "note": consent.note,
        "context": event_context(key, consent, ctx.file_name, row),
        "actor": ctx.actor_id,
        "idempotency_key": None,
        "applied": weighed.applied,
        "status_after": weighed.standing.status.value,
        "prev_hash": prev_hash,
    }
