"""The PostgreSQL fast path: planned rows written with COPY and a few set-based statements.

New contacts, their events and states go straight into their tables with COPY;
changes to existing contacts and states go through temporary tables and one
UPDATE / upsert each. Events keep their chain (seq, prev_hash, hash as planned).
"""

# SQL here is built from constants and model metadata only; values go as parameters.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import connection, models

from contacts.models import Contact, Tag

from ..models import ConsentEvent, ConsentState, OutrankedOptOut
from ..rules import PERMISSIVE_ACTIONS
from ..signals import consent_withdrawn
from .planning import LinePlan


def _is_auto(field: models.Field) -> bool:
    return isinstance(field, models.AutoField | models.BigAutoField | models.SmallAutoField)


class _Copier:
    """COPY of plain dicts (keyed by field name) into a model's table, every column given."""

    def __init__(self, model: type[models.Model], table: str | None = None) -> None:
        self.fields = [f for f in model._meta.concrete_fields if not _is_auto(f)]
        self.table = table or model._meta.db_table
        self.names = [f.name for f in self.fields]
        self.json = [i for i, f in enumerate(self.fields) if isinstance(f, models.JSONField)]
        # Fields the plans do not give keep the model's default, as a save() would.
        self.defaults = [f.get_default() for f in self.fields]

    def sql(self) -> str:
        columns = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)
        return f"COPY {connection.ops.quote_name(self.table)} ({columns}) FROM STDIN"

    def write(self, cursor, rows: Iterable[dict[str, Any]]) -> int:
        count = 0
        pairs = list(zip(self.names, self.defaults, strict=True))
        with cursor.copy(self.sql()) as copy:
            for row in rows:
                values = [row.get(name, default) for name, default in pairs]
                for i in self.json:
                    values[i] = json.dumps(values[i])
                copy.write_row(values)
                count += 1
        return count


_UPDATES = "import_contact_update"
_TAGS = "import_tag"
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


class BulkWriter:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.contacts = _Copier(Contact)
        self.events = _Copier(ConsentEvent)
        self.states = _Copier(ConsentState)
        self.changed_states = _Copier(ConsentState, table=_STATES)
        self.withdrawn_event_ids: list[str] = []
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
                + ", ".join(f.column for f in self.changed_states.fields)
                + f" FROM {state_table} WITH NO DATA",
                f"CREATE TEMPORARY TABLE {_OUTRANKED} (event_id uuid, contact_id uuid, "
                "purpose text, seq integer) ON COMMIT DROP",
            ):
                cursor.execute(sql)

    def write(self, plans: list[LinePlan]) -> None:
        with connection.cursor() as cursor:
            self.contacts.write(cursor, (p.contact_values for p in plans if p.created))
            self._copy_updates(cursor, [p for p in plans if not p.created and p.contact_values])
            self._copy_tags(cursor, plans)
            self.events.write(cursor, (e for p in plans for e in p.events))
            self.states.write(cursor, self._state_rows(p for p in plans if p.created))
            self.changed_states.write(cursor, self._state_rows(p for p in plans if not p.created))
            outranked = [
                (e["id"], e["contact"], e["purpose"], e["seq"]) for p in plans for e in p.outranked
            ]
            if outranked:
                with cursor.copy(f"COPY {_OUTRANKED} FROM STDIN") as copy:
                    for row in outranked:
                        copy.write_row(row)
        for plan in plans:
            if not plan.created and plan.withdrawn:
                self.withdrawn_event_ids += [
                    plan.states[purpose][1]["id"] for purpose in plan.withdrawn
                ]

    def _copy_updates(self, cursor, plans: list[LinePlan]) -> None:
        if not plans:
            return
        with cursor.copy(f"COPY {_UPDATES} (id, {', '.join(_UPDATE_COLUMNS)}) FROM STDIN") as copy:
            for plan in plans:
                values = plan.contact_values
                attributes = values.get("attributes")
                copy.write_row(
                    [
                        plan.contact_id,
                        *(values.get(c) for c in _UPDATE_COLUMNS[:-1]),
                        json.dumps(attributes) if attributes is not None else None,
                    ]
                )

    def _copy_tags(self, cursor, plans: list[LinePlan]) -> None:
        if not any(p.new_tags for p in plans):
            return
        with cursor.copy(f"COPY {_TAGS} (contact_id, name) FROM STDIN") as copy:
            for plan in plans:
                for name in plan.new_tags:
                    copy.write_row((plan.contact_id, name))

    def _state_rows(self, plans: Iterable[LinePlan]) -> Iterable[dict[str, Any]]:
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
                    "updated_at": self.now,
                }

    def finish(self) -> None:
        """The set-based statements, once every plan is copied."""
        contact_table = Contact._meta.db_table
        through = Contact.tags.through._meta.db_table
        state_fields = [f.column for f in ConsentState._meta.concrete_fields if not _is_auto(f)]
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
