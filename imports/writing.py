"""The PostgreSQL fast path: planned rows written with COPY and a few set-based statements.

New contacts, their events and states go straight into their tables with COPY;
changes to existing contacts and states go through temporary tables and one
UPDATE / upsert each. Events keep their chain (seq, prev_hash, hash as planned).
"""

# SQL here is built from constants and model metadata only; values go as parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from django.db import connection, models

from consent.models import ConsentEvent, ConsentEvidence, ConsentState, OutrankedOptOut
from consent.rules import PERMISSIVE_ACTIONS
from consent.signals import consent_withdrawn
from contacts.models import Contact, Tag

from .copytext import copy_line
from .planning import LinePlan


def _column(field: models.Field) -> str:
    # Only non-concrete fields lack a column, and these lists hold concrete ones.
    return cast(str, field.column)


def _is_auto(field: models.Field) -> bool:
    return isinstance(field, models.AutoField | models.BigAutoField | models.SmallAutoField)


class _Table:
    """A table written with COPY from plain dicts keyed by field name, every column given."""

    def __init__(self, model: type[models.Model], table: str | None = None) -> None:
        self.fields = [f for f in model._meta.concrete_fields if not _is_auto(f)]
        self.table = table or model._meta.db_table
        # Fields the plans do not give keep the model's default, as a save() would.
        self.pairs = [(f.name, f.get_default()) for f in self.fields]

    def sql(self) -> str:
        columns = ", ".join(connection.ops.quote_name(_column(f)) for f in self.fields)
        return f"COPY {connection.ops.quote_name(self.table)} ({columns}) FROM STDIN"

    def encode(self, rows: Iterable[dict[str, Any]]) -> str:
        pairs = self.pairs
        return "".join(
            copy_line([row.get(name, default) for name, default in pairs]) for row in rows
        )


_UPDATES = "import_contact_update"
_TAGS = TAGS_TABLE = "import_tag"
_STATES = "import_state"
_OUTRANKED = "import_outranked"
_UPDATE_COLUMNS = (
    "phone",
    "phone_hash",
    "wa_id",
    "whatsapp_user_id",
    "external_id",
    "name",
    "language",
    "attributes",
)


def _tables() -> dict[str, _Table]:
    return {
        "contacts": _Table(Contact),
        "events": _Table(ConsentEvent),
        "evidence": _Table(ConsentEvidence),
        "states": _Table(ConsentState),
        "changed_states": _Table(ConsentState, table=_STATES),
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
            copy_line([p.contact_id, *(p.contact_values.get(c) for c in _UPDATE_COLUMNS)])
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
        self.sql = {
            "contacts": tables["contacts"].sql(),
            "updates": f"COPY {_UPDATES} (id, {', '.join(_UPDATE_COLUMNS)}) FROM STDIN",
            "tags": f"COPY {_TAGS} (contact_id, name) FROM STDIN",
            "events": tables["events"].sql(),
            "evidence": tables["evidence"].sql(),
            "states": tables["states"].sql(),
            "changed_states": tables["changed_states"].sql(),
            "outranked": f"COPY {_OUTRANKED} FROM STDIN",
        }
        state_table = ConsentState._meta.db_table
        with connection.cursor() as cursor:
            for table in (_UPDATES, _TAGS, _STATES, _OUTRANKED):
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            for sql in (
                f"CREATE TEMPORARY TABLE {_UPDATES} (id uuid, "
                + ", ".join(
                    f"{c} {'jsonb' if c == 'attributes' else 'text'}" for c in _UPDATE_COLUMNS
                )
                + ") ON COMMIT DROP",
                f"CREATE TEMPORARY TABLE {_TAGS} (contact_id uuid, name text) ON COMMIT DROP",
                f"CREATE TEMPORARY TABLE {_STATES} ON COMMIT DROP AS SELECT "
                + ", ".join(_column(f) for f in tables["changed_states"].fields)
                + f" FROM {state_table} WITH NO DATA",
                f"CREATE TEMPORARY TABLE {_OUTRANKED} (event_id uuid, contact_id uuid, "
                "purpose text, seq integer) ON COMMIT DROP",
            ):
                cursor.execute(sql)

    def write(self, texts: dict[str, str], withdrawn: list[str]) -> None:
        # Contacts before the rows that point at them (the foreign keys are deferred
        # anyway; this keeps the order readable).
        with connection.cursor() as cursor:
            for key, sql in self.sql.items():
                if texts.get(key):
                    with cursor.copy(sql) as copy:
                        copy.write(texts[key])
        self.withdrawn_event_ids += withdrawn

    def finish(self) -> None:
        """The set-based statements, once every plan is copied."""
        contact_table = Contact._meta.db_table
        through = Contact.tags.through._meta.db_table
        state_fields = [_column(f) for f in ConsentState._meta.concrete_fields if not _is_auto(f)]
        kept = ("contact_id", "purpose")
        permissive = ", ".join(f"'{a}'" for a in sorted(PERMISSIVE_ACTIONS))
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {contact_table} c SET "
                + ", ".join(f"{col} = COALESCE(u.{col}, c.{col})" for col in _UPDATE_COLUMNS)
                + f", updated_at = %s FROM {_UPDATES} u WHERE c.id = u.id",
                [self.now],
            )
            cursor.execute(
                f"INSERT INTO {Tag._meta.db_table} (name) SELECT DISTINCT name FROM {_TAGS} "
                "ON CONFLICT (name) DO NOTHING"
            )
            cursor.execute(
                f"INSERT INTO {through} (contact_id, tag_id) SELECT it.contact_id, t.id "
                f"FROM {_TAGS} it JOIN {Tag._meta.db_table} t ON t.name = it.name "
                "ON CONFLICT DO NOTHING"
            )
            columns = ", ".join(state_fields)
            cursor.execute(
                f"INSERT INTO {ConsentState._meta.db_table} ({columns}) "
                f"SELECT {columns} FROM {_STATES} ON CONFLICT (contact_id, purpose) DO UPDATE SET "
                + ", ".join(f"{c} = EXCLUDED.{c}" for c in state_fields if c not in kept)
            )
            # Listed for staff beside the answer that outranked it, as record_consent lists it.
            cursor.execute(
                f"INSERT INTO {OutrankedOptOut._meta.db_table} "
                "(event_id, outranked_by_id, resolution, created_at) "
                f"SELECT o.event_id, (SELECT e.id FROM {ConsentEvent._meta.db_table} e "
                "WHERE e.contact_id = o.contact_id AND e.purpose = o.purpose AND e.applied "
                f"AND e.action IN ({permissive}) AND e.seq < o.seq ORDER BY e.seq DESC LIMIT 1), "
                f"%s, %s FROM {_OUTRANKED} o",
                [OutrankedOptOut.Resolution.PENDING, self.now],
            )
        # New contacts cannot have invitations yet; those we knew may.
        for event in ConsentEvent.objects.filter(pk__in=self.withdrawn_event_ids).select_related(
            "contact"
        ):
            consent_withdrawn.send(
                sender=ConsentEvent, contact=event.contact, purpose=event.purpose, event=event
            )
