"""New contacts written in SQL alone: no Python per row once the file is staged.

Most rows of a large import name nobody we know yet. Their plan does not depend
on any earlier ledger: every purpose starts from an empty standing, so where an
event lands is decided by its (purpose, action) alone. That outcome is asked of
`consent.ordering.weigh` here, once per pair, and handed to SQL as a small table;
the events (with their chain hashes, computed by PostgreSQL over the same
canonical serialisation as `consent.chain.canonical_bytes`), states and contacts
are then written by three INSERT … SELECT statements straight from the staging table.

Rows this path does not take go through the planner (planning.py) as before:
rows naming an existing contact, and rows whose consent carries evidence (its
digest needs a random salt per event) or text outside ASCII (the idempotency
key is hashed over ASCII-escaped JSON).
"""

# SQL here is built from constants and model metadata only; values go as parameters.
# ruff: noqa: S608

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import cast

from django.db import connection, models

from consent.chain import CHAINED_FIELDS, CURRENT_FORM, FIELD_KINDS, SEPARATORS
from consent.models import ConsentEvent, ConsentState
from consent.ordering import Standing, weigh
from consent.rules import IllegalTransition, Purpose, Source, Status
from contacts.models import Contact

from .columns import STATUS_ACTIONS
from .planning import PlanContext
from .staging import MATCHES, TABLE, TAKEN

SIMPLE = "import_simple"


def _columns(model: type[models.Model]) -> list[str]:
    # Concrete fields always have a column.
    return [cast(str, f.column) for f in model._meta.concrete_fields]


@dataclass
class Written:
    new_contacts: int = 0
    events: int = 0
    unapplied_events: int = 0


def select_simple_rows() -> int:
    """Mark the rows this path writes; returns how many."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {SIMPLE}")
        # Staged consents are ASCII JSON: a backslash-u means text the key escapes.
        # Column 6 of a staged consent is its evidence note.
        cursor.execute(
            f"CREATE TEMPORARY TABLE {SIMPLE} ON COMMIT DROP AS SELECT r.rownum FROM {TABLE} r "
            f"WHERE NOT EXISTS (SELECT 1 FROM {MATCHES} m WHERE m.rownum = r.rownum) "
            "AND (r.consents = '' OR (strpos(r.consents, '\\u') = 0 AND NOT EXISTS ("
            "SELECT 1 FROM jsonb_array_elements(CAST(NULLIF(r.consents, '') AS jsonb)) e "
            "WHERE e.value->>6 <> '')))"
        )
        cursor.execute(f"ALTER TABLE {SIMPLE} ADD PRIMARY KEY (rownum)")
        cursor.execute(f"ANALYZE {SIMPLE}")
        cursor.execute(f"SELECT COUNT(*) FROM {SIMPLE}")
        return cursor.fetchone()[0]


def _outcomes(ctx: PlanContext) -> tuple[str, list]:
    """(purpose, action) -> where an event lands on an empty standing, as a VALUES list."""
    rows, params = [], []
    for purpose in Purpose.values:
        for action in STATUS_ACTIONS.values():
            try:
                weighed = weigh(Standing(), action, ctx.now, purpose=purpose)
                applied, status = weighed.applied, weighed.standing.status
                permissive = weighed.standing.permissive_at is not None
            except IllegalTransition:
                applied, status, permissive = False, Status.NONE, False
            rows.append("(%s, %s, %s, %s, %s)")
            params += [purpose, str(action.value), applied, str(status.value), permissive]
    return ", ".join(rows), params


def _instant(sql: str) -> str:
    """An instant as the ledger writes it (UTC, microseconds, +00:00), in SQL."""
    return f"(to_char(({sql}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00')"


def _json_text(sql: str) -> str:
    # PostgreSQL escapes strings as json.dumps(ensure_ascii=False) does.
    return f"CAST(to_json(CAST(({sql}) AS text)) AS text)"


# Each JSON kind of the ledger's canonical form (consent.chain.FIELD_KINDS) in SQL:
# an SQL value -> its JSON text, null included.
_AS_JSON = {
    "text": lambda sql: f"COALESCE({_json_text(sql)}, 'null')",
    "integer": lambda sql: f"COALESCE(CAST(({sql}) AS text), 'null')",
    "boolean": lambda sql: f"CASE WHEN ({sql}) THEN 'true' ELSE 'false' END",
    "instant": lambda sql: f"COALESCE('\"' || {_instant(sql)} || '\"', 'null')",
    "json": lambda sql: f"COALESCE(({sql}), 'null')",
}


def _canonical(e: str, prev: str) -> str:
    """The canonical serialisation of an event of alias `e`, built from the ledger's own
    definition (its fields, their kinds, the key order and separators) in SQL."""
    # Each chained field's value in SQL; its JSON text comes from the field's kind.
    values = {
        "id": f"{e}.id",
        "contact": f"{e}.contact_id",
        "seq": f"{e}.seq",
        "purpose": f"{e}.purpose",
        # An import records purposes, never a topic.
        "topic": "CAST(NULL AS text)",
        "action": f"{e}.action",
        "source": f"{e}.source",
        "notice": f"{e}.notice_id",
        "occurred_at": f"{e}.occurred_at",
        "recorded_at": f"{e}.recorded_at",
        "expires_at": f"{e}.expires_at",
        "paused_until": "CAST(NULL AS timestamptz)",
        "wamid": "''",
        "prompted_by_wamid": "''",
        "context": f"{e}.context_text",
        "actor": f"{e}.actor_id",
        "idempotency_key": "CAST(NULL AS text)",
        "applied": f"{e}.applied",
        "status_after": f"{e}.status_after",
        "form": str(CURRENT_FORM),
        "evidence_digest": "''",
        "prev_hash": prev,
    }
    item, member = SEPARATORS
    parts = []
    for i, name in enumerate(sorted(CHAINED_FIELDS)):
        key = ("{" if i == 0 else item) + json.dumps(name) + member
        parts.append(f"'{key}' || {_AS_JSON[FIELD_KINDS[name]](values[name])}")
    return "(" + " || ".join(parts) + " || '}')"


def _hash(e: str, prev: str) -> str:
    return f"encode(sha256(convert_to({_canonical(e, prev)}, 'UTF8')), 'hex')"


def _staged_events_sql(outcomes: str) -> str:
    """Every consent of the simple rows, as the planner would make its event."""
    import_key = (
        "encode(sha256(convert_to('[' || "
        + " || ',' || ".join(
            [
                _json_text("c.contact_id"),
                _json_text("c.purpose"),
                _json_text("c.action"),
                _json_text("COALESCE(c.at_text, '')"),
                "COALESCE(CAST(c.notice_id AS text), 'null')",
                _json_text("c.wording"),
                _json_text("c.origin"),
                _json_text("''"),
            ]
        )
        + " || ']', 'UTF8')), 'hex')"
    )
    return f"""
        c AS MATERIALIZED (
            SELECT r.rownum, CAST(r.new_id AS uuid) AS contact_id, CAST(e.ord AS integer) AS seq,
                   e.v->>0 AS purpose, e.v->>1 AS action, e.v->>2 AS at_text,
                   CAST(e.v->>3 AS integer) AS notice_id, e.v->>4 AS wording,
                   e.v->>5 AS origin, gen_random_uuid() AS id
            FROM {TABLE} r JOIN {SIMPLE} s ON s.rownum = r.rownum
            CROSS JOIN LATERAL jsonb_array_elements(CAST(NULLIF(r.consents, '') AS jsonb))
                WITH ORDINALITY AS e(v, ord)
            WHERE r.consents <> ''
        ),
        k AS MATERIALIZED (
            SELECT c.*, {import_key} AS import_key,
                   COALESCE(CAST(c.at_text AS timestamptz), %(now)s) AS occurred_at,
                   o.applied, o.status_after, o.permissive
            FROM c JOIN (VALUES {outcomes}) o(purpose, action, applied, status_after, permissive)
                ON o.purpose = c.purpose AND o.action = c.action
        ),
        d AS MATERIALIZED (
            SELECT k.*, %(source)s AS source, %(now)s AS recorded_at,
                   CAST(%(actor)s AS integer) AS actor_id,
                   CASE WHEN k.action = 'legacy' THEN CAST(%(deadline)s AS timestamptz) END
                       AS expires_at,
                   '{{"import":{{"file":' || {_json_text("%(file)s")}
                       || ',"key":"' || k.import_key || '","row":' || CAST(k.rownum AS text)
                       || CASE WHEN k.origin <> '' THEN ',"source":' || {_json_text("k.origin")}
                          ELSE '' END
                       || CASE WHEN k.wording <> '' THEN ',"wording":' || {_json_text("k.wording")}
                          ELSE '' END
                       || '}}}}' AS context_text
            FROM k
        ),
        chain AS (
            SELECT d.*, CAST(NULL AS text) AS prev_hash, {_hash("d", "NULL")} AS hash
            FROM d WHERE d.seq = 1
            UNION ALL
            SELECT d.*, chain.hash AS prev_hash, {_hash("d", "chain.hash")} AS hash
            FROM chain JOIN d ON d.rownum = chain.rownum AND d.seq = chain.seq + 1
        )
    """


def _params(ctx: PlanContext, outcome_params: list) -> dict:
    params = {
        "now": ctx.now,
        "source": Source.IMPORT.value,
        "actor": ctx.actor_id,
        "deadline": ctx.deadline,
        "file": ctx.file_name,
        "language": ctx.default_language,
    }
    params.update({f"o{i}": value for i, value in enumerate(outcome_params)})
    return params


def _named(outcomes: str, count: int) -> str:
    """The VALUES list with named placeholders (the rest of the SQL names its parameters)."""
    parts = outcomes.split("%s")
    assert len(parts) == count + 1  # noqa: S101
    return "".join(part + (f"%(o{i})s" if i < count else "") for i, part in enumerate(parts))


def count(ctx: PlanContext) -> Written:
    """What `write` would write, without writing (a dry run)."""
    outcomes, outcome_params = _outcomes(ctx)
    outcomes = _named(outcomes, len(outcome_params))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT COUNT(*) FROM {SIMPLE}), COUNT(*), "
            "COUNT(*) FILTER (WHERE NOT o.applied) "
            f"FROM {TABLE} r JOIN {SIMPLE} s ON s.rownum = r.rownum "
            "CROSS JOIN LATERAL jsonb_array_elements(CAST(NULLIF(r.consents, '') AS jsonb)) e(v) "
            f"JOIN (VALUES {outcomes}) o(purpose, action, applied, status_after, permissive) "
            "ON o.purpose = e.v->>0 AND o.action = e.v->>1 WHERE r.consents <> ''",
            _params(ctx, outcome_params),
        )
        new_contacts, events, unapplied = cursor.fetchone()
    return Written(new_contacts, events, unapplied)


# A new contact's columns from a staged row (`r`) and the rows whose spelled wa_id is taken (`t`).
def _new_contact_values() -> dict[str, str]:
    return {
        "id": "CAST(r.new_id AS uuid)",
        "phone": "r.phone",
        "phone_hash": "r.phone_hash",
        # A wa_id spelled from the phone that another contact holds is left out.
        "wa_id": "CASE WHEN r.wa_id_derived = 1 AND t.rownum IS NOT NULL THEN NULL "
        "ELSE r.wa_id END",
        "whatsapp_user_id": "r.whatsapp_user_id",
        "external_id": "r.external_id",
        "name": "COALESCE(r.name, '')",
        "language": "COALESCE(NULLIF(r.language, ''), %(language)s)",
        "attributes": "COALESCE(CAST(NULLIF(r.attributes, '') AS jsonb), '{}')",
        "link_secret": "r.link_secret",
        # An import never blocks anyone: staff do, on the contact page.
        "blocked_at": "NULL",
        "blocked_reason": "''",
        "created_at": "%(now)s",
        "updated_at": "%(now)s",
    }


def write(ctx: PlanContext, tags_table: str) -> Written:
    """Insert the simple rows' contacts, events and states; their tags go to `tags_table`."""
    outcomes, outcome_params = _outcomes(ctx)
    outcomes = _named(outcomes, len(outcome_params))
    params = _params(ctx, outcome_params)
    contact_values = _new_contact_values()
    contact_columns = _columns(Contact)
    event_values = {
        "id": "id",
        "contact_id": "contact_id",
        "seq": "seq",
        "purpose": "purpose",
        "topic": "NULL",
        "action": "action",
        "source": "source",
        "notice_id": "notice_id",
        "occurred_at": "occurred_at",
        "recorded_at": "recorded_at",
        "expires_at": "expires_at",
        "paused_until": "NULL",
        "wamid": "''",
        "prompted_by_wamid": "''",
        "context": "CAST(context_text AS jsonb)",
        "actor_id": "actor_id",
        "form": str(CURRENT_FORM),
        "evidence_digest": "''",
        "idempotency_key": "NULL",
        "applied": "applied",
        "status_after": "status_after",
        "prev_hash": "prev_hash",
        "hash": "hash",
    }
    event_columns = _columns(ConsentEvent)
    state_values = {
        "contact_id": "contact_id",
        "purpose": "purpose",
        "status": "status_after",
        "since": "LEAST(occurred_at, recorded_at)",
        "source": "source",
        "notice_id": "notice_id",
        "expires_at": "expires_at",
        "paused_until": "NULL",
        "last_event_id": "id",
        "latest_at": "LEAST(occurred_at, recorded_at)",
        "permissive_at": "CASE WHEN permissive THEN LEAST(occurred_at, recorded_at) END",
        "updated_at": "recorded_at",
    }
    state_columns = [c for c in _columns(ConsentState) if c != "id"]
    missing = (
        set(contact_columns)
        - set(contact_values)
        - {"parent_user_id", "username", "merged_into_id", "erased_at"},
        set(event_columns) - set(event_values),
        set(state_columns) - set(state_values),
    )
    assert not any(missing), missing  # noqa: S101 (a new column needs its value here)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Contact._meta.db_table} ({', '.join(contact_columns)}) "
            f"SELECT {', '.join(contact_values.get(c, 'NULL') for c in contact_columns)} "
            f"FROM {TABLE} r JOIN {SIMPLE} s ON s.rownum = r.rownum "
            f"LEFT JOIN {TAKEN} t ON t.rownum = r.rownum",
            params,
        )
        new_contacts = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {tags_table} (contact_id, name) "
            "SELECT CAST(r.new_id AS uuid), unnest(string_to_array(r.tags, ';')) "
            f"FROM {TABLE} r JOIN {SIMPLE} s ON s.rownum = r.rownum WHERE r.tags <> ''"
        )
        returned: tuple[str, ...] = (
            "id",
            "contact_id",
            "seq",
            "purpose",
            "action",
            "source",
            "notice_id",
        )
        returned += ("occurred_at", "recorded_at", "expires_at", "applied", "status_after")
        cursor.execute(
            "WITH RECURSIVE "
            + _staged_events_sql(outcomes)
            + f""",
            ev AS (
                INSERT INTO {ConsentEvent._meta.db_table} ({", ".join(event_columns)})
                SELECT {", ".join(event_values[c] for c in event_columns)} FROM chain
                RETURNING {", ".join(returned)}
            ),
            st AS (
                INSERT INTO {ConsentState._meta.db_table} ({", ".join(state_columns)})
                SELECT DISTINCT ON (contact_id, purpose)
                       {", ".join(state_values[c] for c in state_columns)}
                FROM ev JOIN (VALUES {outcomes}) o(purpose, action, applied, status_after,
                    permissive) USING (purpose, action, applied, status_after)
                WHERE applied ORDER BY contact_id, purpose, seq DESC
                RETURNING 1
            )
            SELECT (SELECT COUNT(*) FROM ev), (SELECT COUNT(*) FROM ev WHERE NOT applied)
            """,
            params,
        )
        events, unapplied = cursor.fetchone()
    return Written(new_contacts, events, unapplied)
