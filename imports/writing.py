"""The PostgreSQL fast path: planned rows written with COPY and a few set-based statements.

New contacts, their events and states go straight into their tables with COPY;
changes to existing contacts and states go through temporary tables and one
UPDATE / upsert each. Events keep their chain (seq, prev_hash, hash as planned).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from django.db import models

from consent.models import ConsentEvent, ConsentEvidence, ConsentState
from consent.signals import consent_withdrawn
from contacts.models import Contact

from . import sql
from .copytext import copy_line
from .planning import LinePlan


def _is_auto(field: models.Field) -> bool:
    return isinstance(field, models.AutoField | models.BigAutoField | models.SmallAutoField)


class _Table:
    """A table written with COPY from plain dicts keyed by field name, every column given."""

    def __init__(self, model: type[models.Model], table: str | None = None) -> None:
        self.fields = [f for f in model._meta.concrete_fields if not _is_auto(f)]
        self.table = table or model._meta.db_table
        # Fields the plans do not give keep the model's default, as a save() would.
        self.pairs = [(f.name, f.get_default()) for f in self.fields]

    @property
    def columns(self) -> list[str]:
        # Only non-concrete fields lack a column, and these hold concrete ones.
        return [cast(str, f.column) for f in self.fields]

    def encode(self, rows: Iterable[dict[str, Any]]) -> str:
        pairs = self.pairs
        return "".join(
            copy_line([row.get(name, default) for name, default in pairs]) for row in rows
        )


def _tables() -> dict[str, _Table]:
    return {
        "contacts": _Table(Contact),
        "events": _Table(ConsentEvent),
        "evidence": _Table(ConsentEvidence),
        "states": _Table(ConsentState),
        "changed_states": _Table(ConsentState, table=sql.STATES),
    }


def _state_rows(plans: Iterable[LinePlan]) -> Iterable[dict[str, Any]]:
    for plan in plans:
        for purpose, (standing, event) in plan.states.items():
            yield {
                "contact": plan.contact_id,
                "purpose": purpose,
                "status": standing.status.value,
                "since": min(event["occurred_at"], event["recorded_at"]),
                "source": event["source"],
                "notice": event["notice"],
                "expires_at": event["expires_at"],
                "paused_until": event["paused_until"],
                "last_event": event["id"],
                "latest_at": standing.latest_at,
                "permissive_at": standing.permissive_at,
                "updated_at": event["recorded_at"],
            }


def encode_plans(plans: list[LinePlan]) -> dict[str, str]:
    """COPY text per table for a batch of plans (made in a worker process)."""
    tables = _tables()
    new = [p for p in plans if p.created]
    known = [p for p in plans if not p.created]
    return {
        "contacts": tables["contacts"].encode(p.contact_values for p in new),
        "updates": "".join(
            copy_line([p.contact_id, *(p.contact_values.get(c) for c in sql.UPDATE_COLUMNS)])
            for p in known
            if p.contact_values
        ),
        "tags": "".join(copy_line((p.contact_id, name)) for p in plans for name in p.new_tags),
        "events": tables["events"].encode(e for p in plans for e in p.events),
        "evidence": tables["evidence"].encode(
            {**e, "event": e["id"], "salt": e["evidence_salt"]}
            for p in plans
            for e in p.events
            if e["evidence_digest"]
        ),
        "states": tables["states"].encode(_state_rows(new)),
        "changed_states": tables["changed_states"].encode(_state_rows(known)),
        "outranked": "".join(
            copy_line((e["id"], e["contact"], e["purpose"], e["seq"]))
            for p in plans
            for e in p.outranked
        ),
    }


def withdrawn_event_ids(plans: list[LinePlan]) -> list[str]:
    """Applied opt-outs of contacts we already knew (new ones cannot have invitations yet)."""
    return [
        plan.states[purpose][1]["id"]
        for plan in plans
        if not plan.created
        for purpose in plan.withdrawn
    ]


class BulkWriter:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.withdrawn_event_ids: list[str] = []
        tables = _tables()
        self.state_columns = tables["changed_states"].columns
        self.statements = sql.copy_statements(
            {key: (table.table, table.columns) for key, table in tables.items()}
        )
        sql.create_bulk_tables(self.state_columns)

    def write(self, texts: dict[str, str], withdrawn: list[str]) -> None:
        # Contacts before the rows that point at them (the foreign keys are deferred
        # anyway; this keeps the order readable).
        sql.copy_rows(self.statements, texts)
        self.withdrawn_event_ids += withdrawn

    def finish(self) -> None:
        """The set-based statements, once every plan is copied."""
        sql.apply_bulk_changes(self.now, self.state_columns)
        # New contacts cannot have invitations yet; those we knew may.
        for event in ConsentEvent.objects.filter(pk__in=self.withdrawn_event_ids).select_related(
            "contact"
        ):
            consent_withdrawn.send(
                sender=ConsentEvent, contact=event.contact, purpose=event.purpose, event=event
            )
