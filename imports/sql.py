"""The imports app's hand-written SQL: each statement named for what it does, tables named by
the models (and the import's own temporary tables here), the database vendor decided here.

The import is a hot path (a million rows): its statements are set-based, over temporary
tables private to the import's connection, and loaded with COPY on PostgreSQL.
"""

# SQL here is built from constants and model metadata only; values go as parameters.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from django.db import connection, models

from consent.chain import CHAINED_FIELDS, CURRENT_FORM, FIELD_KINDS, SEPARATORS, instant_sql
from consent.models import ConsentEvent, ConsentState, OutrankedOptOut
from consent.rules import PERMISSIVE_ACTIONS
from contacts.models import Contact, Tag

from .models import ContactImport

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper


def is_postgres() -> bool:
    """PostgreSQL takes the fast path (COPY, set-based writes); SQLite the row path."""
    return connection.vendor == "postgresql"


def columns_of(model: type[models.Model]) -> list[str]:
    # Concrete fields always have a column.
    return [cast(str, f.column) for f in model._meta.concrete_fields]


def _temporary(name: str) -> str:
    """A temporary table made AS SELECT: unlogged and private to this connection; on
    PostgreSQL it also goes at the end of the transaction."""
    return f"TEMPORARY TABLE {name}" + (" ON COMMIT DROP" if is_postgres() else "")


# --- The staging table: checked rows, matched to contacts and cross-checked -------------

TABLE = "import_row"
MATCHES = "import_match"
TAKEN = "import_taken"
COLUMNS = (
    "rownum",
    "new_id",
    "link_secret",
    "phone",
    "phone_derived",
    "phone_hash",
    "wa_id",
    "wa_id_derived",
    "whatsapp_user_id",
    "external_id",
    "name",
    "language",
    "tags",
    "attributes",
    "consents",
)
_TYPES = {"rownum": "integer", "phone_derived": "integer", "wa_id_derived": "integer"}


def create_staging_table() -> None:
    types = dict(_TYPES)
    if not is_postgres():
        # The rowid: the row path pages through the table between its commits.
        types["rownum"] = "integer PRIMARY KEY"
    columns = ", ".join(f"{name} {types.get(name, 'text')}" for name in COLUMNS)
    suffix = " ON COMMIT DROP" if is_postgres() else ""
    drop_staging_tables()
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {TABLE} ({columns}){suffix}")


def drop_staging_tables() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TAKEN}")
        cursor.execute(f"DROP TABLE IF EXISTS {MATCHES}")
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")


def load_staged_rows(data: str | list[tuple]) -> None:
    """Append checked rows to the staging table: COPY text (PostgreSQL) or tuples (SQLite)."""
    with connection.cursor() as cursor:
        if isinstance(data, str):
            with cursor.copy(f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                copy.write(data)
        else:
            marks = ", ".join(["%s"] * len(COLUMNS))
            cursor.executemany(f"INSERT INTO {TABLE} VALUES ({marks})", data)


# Each identifier a row gives, joined to the contact holding it. A merged
# duplicate answers for its survivor (merges keep chains one level deep).
_FOUND = """
    SELECT r.rownum AS rownum, '{via}' AS via,
           CAST(COALESCE(c.merged_into_id, c.id) AS text) AS contact_id,
           CASE WHEN c.erased_at IS NULL THEN 0 ELSE 1 END AS erased
    FROM {table} r JOIN {contacts} c ON c.{column} = r.{column}{extra}
"""
_IDENTIFIERS = (
    ("phone", "phone_hash", ""),
    # A wa_id we spelled from the phone names nobody: only one the file gives does.
    ("wa_id", "wa_id", " WHERE r.wa_id_derived = 0"),
    ("whatsapp_user_id", "whatsapp_user_id", ""),
    ("external_id", "external_id", ""),
)


def _found_sql() -> str:
    return " UNION ALL ".join(
        _FOUND.format(
            via=via, column=column, extra=extra, table=TABLE, contacts=Contact._meta.db_table
        )
        for via, column, extra in _IDENTIFIERS
    )


def match_staged_rows() -> None:
    """Which existing contact each row names (MATCHES), and which spelled wa_ids are taken."""
    with connection.cursor() as cursor:
        if is_postgres():
            # Temporary tables are never analysed automatically.
            cursor.execute(f"ANALYZE {TABLE}")
        cursor.execute(
            f"CREATE {_temporary(MATCHES)} AS "
            "SELECT rownum, MIN(contact_id) AS contact_id, "
            "COUNT(DISTINCT contact_id) AS contacts, MAX(erased) AS erased "
            f"FROM ({_found_sql()}) found GROUP BY rownum"
        )
        cursor.execute(
            f"CREATE {_temporary(TAKEN)} AS SELECT r.rownum FROM {TABLE} r "
            f"JOIN {Contact._meta.db_table} c ON c.wa_id = r.wa_id WHERE r.wa_id_derived = 1"
        )


# Each identifier a person appears by once per file, and the column saying we spelled it.
DUPLICABLE = (
    ("phone", ""),
    ("wa_id", "wa_id_derived"),
    ("whatsapp_user_id", ""),
    ("external_id", ""),
)


def rows_repeating(column: str, derived: str) -> list[tuple[int, str, str]]:
    """(row, column, message) for each row whose `column` an earlier row gives already."""
    inner = f" AND {derived} = 0" if derived else ""
    outer = f" AND r.{derived} = 0" if derived else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT r.rownum, '{column}', "
            f"'{column} ' || r.{column} || ' is also on row ' || CAST(d.first AS text) "
            "|| ': each person may appear once per file' "
            f"FROM {TABLE} r JOIN (SELECT {column} AS value, MIN(rownum) AS first "
            f"FROM {TABLE} WHERE {column} IS NOT NULL{inner} GROUP BY {column} "
            f"HAVING COUNT(*) > 1) d ON d.value = r.{column} "
            f"WHERE r.rownum <> d.first{outer} ORDER BY 1"
        )
        return cursor.fetchall()


def identifiers_naming_two_contacts() -> list[tuple[int, str]]:
    """(row, identifier) for each identifier of the rows whose identifiers name two contacts."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT rownum, via FROM ({_found_sql()}) found WHERE rownum IN "
            f"(SELECT rownum FROM {MATCHES} WHERE contacts > 1) ORDER BY rownum, via"
        )
        return cursor.fetchall()


def delete_staged_rows(numbers: list[tuple[int]]) -> None:
    with connection.cursor() as cursor:
        for start in range(0, len(numbers), 10_000):
            cursor.executemany(
                f"DELETE FROM {TABLE} WHERE rownum = %s", numbers[start : start + 10_000]
            )


def staged_pages(chunk: int, *, leaving_out: str | None = None) -> Iterator[list[tuple]]:
    """The staged rows in file order, in pages of `chunk`: the staged columns, then the
    taken wa_id's row (or None), the contact the row names and whether it was erased.

    `leaving_out`: a table of rownums written already (PostgreSQL only).
    """
    columns = ", ".join(f"r.{name}" for name in COLUMNS)
    select = (
        f"SELECT {columns}, t.rownum, m.contact_id, m.erased FROM {TABLE} r "
        f"LEFT JOIN {MATCHES} m ON m.rownum = r.rownum "
        f"LEFT JOIN {TAKEN} t ON t.rownum = r.rownum"
    )
    if leaving_out:
        select += f" WHERE NOT EXISTS (SELECT 1 FROM {leaving_out} x WHERE x.rownum = r.rownum)"
    if is_postgres():
        # A server-side cursor: a million staged rows never sit in memory at once.
        connection.ensure_connection()
        with connection.connection.cursor(name="import_rows") as cursor:
            cursor.itersize = chunk
            cursor.execute(f"{select} ORDER BY r.rownum")
            while rows := cursor.fetchmany(chunk):
                yield rows
        return
    # SQLite commits between pages on the row path, so each page is its own query.
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"{select} WHERE r.rownum > %s ORDER BY r.rownum LIMIT {int(chunk)}", [last]
            )
            rows = cursor.fetchall()
        if not rows:
            return
        last = rows[-1][0]
        yield rows


def lock_matched_contacts() -> None:
    """Lock every contact the file names, in one order (as record_consent locks one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id FROM {Contact._meta.db_table} c JOIN {MATCHES} m "
            "ON c.id = CAST(m.contact_id AS uuid) ORDER BY c.id FOR UPDATE OF c"
        )


def write_job_progress(
    own: BaseDatabaseWrapper, job_id: Any, phase: str, done: int, total: int | None, at: datetime
) -> None:
    """A job's progress, through a connection of its own (`own`): the page sees it while the
    import's transaction is still open."""
    pk = job_id if own.vendor == "postgresql" else job_id.hex
    with own.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ContactImport._meta.db_table} SET phase = %s, done = %s, "
            "total = %s, updated_at = %s WHERE id = %s",
            [phase, done, total, at, pk],
        )


# --- New contacts in SQL alone (imports.setbased) ----------------------------------------
# An outcome is (purpose, action, applied, status after, permissive): where an event of
# that purpose and action lands on an empty standing.

SIMPLE = "import_simple"
Outcome = tuple[str, str, bool, str, bool]


def select_simple_rows() -> int:
    """Mark the rows the set-based path writes (SIMPLE); returns how many."""
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


def _json_text(sql: str) -> str:
    # PostgreSQL escapes strings as json.dumps(ensure_ascii=False) does.
    return f"CAST(to_json(CAST(({sql}) AS text)) AS text)"


# Each JSON kind of the ledger's canonical form (consent.chain.FIELD_KINDS) in SQL:
# an SQL value -> its JSON text, null included.
_AS_JSON = {
    "text": lambda sql: f"COALESCE({_json_text(sql)}, 'null')",
    "integer": lambda sql: f"COALESCE(CAST(({sql}) AS text), 'null')",
    "boolean": lambda sql: f"CASE WHEN ({sql}) THEN 'true' ELSE 'false' END",
    "instant": lambda sql: f"COALESCE('\"' || {instant_sql(sql)} || '\"', 'null')",
    "json": lambda sql: f"COALESCE(({sql}), 'null')",
}


def canonical_sql(e: str, prev: str) -> str:
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
    return f"encode(sha256(convert_to({canonical_sql(e, prev)}, 'UTF8')), 'hex')"


def _import_key_sql() -> str:
    """An event's import key (imports.planning.import_key), in SQL, over the alias `c`."""
    return (
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


def _staged_events_sql(outcomes: str) -> str:
    """Every consent of the simple rows, as the planner would make its event."""
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
            SELECT c.*, {_import_key_sql()} AS import_key,
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


def _with_outcomes(outcomes: Sequence[Outcome], values: dict[str, Any]) -> tuple[str, dict]:
    """The outcomes as a VALUES list of named placeholders, and every parameter by name:
    `values` gives now, source, actor, deadline, file and language."""
    rows, params = [], dict(values)
    for i, outcome in enumerate(outcomes):
        rows.append("(" + ", ".join(f"%(o{i}_{j})s" for j in range(len(outcome))) + ")")
        params.update({f"o{i}_{j}": value for j, value in enumerate(outcome)})
    return ", ".join(rows), params


def count_simple_rows(outcomes: Sequence[Outcome], values: dict[str, Any]) -> tuple[int, int, int]:
    """(new contacts, events, events not applied) the set-based path would write."""
    listed, params = _with_outcomes(outcomes, values)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT COUNT(*) FROM {SIMPLE}), COUNT(*), "
            "COUNT(*) FILTER (WHERE NOT o.applied) "
            f"FROM {TABLE} r JOIN {SIMPLE} s ON s.rownum = r.rownum "
            "CROSS JOIN LATERAL jsonb_array_elements(CAST(NULLIF(r.consents, '') AS jsonb)) e(v) "
            f"JOIN (VALUES {listed}) o(purpose, action, applied, status_after, permissive) "
            "ON o.purpose = e.v->>0 AND o.action = e.v->>1 WHERE r.consents <> ''",
            params,
        )
        return cursor.fetchone()


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


# An event's columns from the staged events (`chain`).
_EVENT_VALUES = {
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
# A state's columns from its contact's last applied event of the purpose (`ev`).
_STATE_VALUES = {
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
# The columns of the events the state statement reads back.
_RETURNED = (
    "id",
    "contact_id",
    "seq",
    "purpose",
    "action",
    "source",
    "notice_id",
    "occurred_at",
    "recorded_at",
    "expires_at",
    "applied",
    "status_after",
)


def _state_columns() -> list[str]:
    return [c for c in columns_of(ConsentState) if c != "id"]


def assert_every_column_is_written() -> None:
    """A new column of a contact, an event or a state needs its value here."""
    missing = (
        set(columns_of(Contact))
        - set(_new_contact_values())
        - {"parent_user_id", "username"}
        - {"merged_into_id", "erased_at"},
        set(columns_of(ConsentEvent)) - set(_EVENT_VALUES),
        set(_state_columns()) - set(_STATE_VALUES),
    )
    assert not any(missing), missing  # noqa: S101


def insert_simple_contacts(values: dict[str, Any]) -> int:
    """A new contact for each simple row; returns how many."""
    contact_values = _new_contact_values()
    columns = columns_of(Contact)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Contact._meta.db_table} ({', '.join(columns)}) "
            f"SELECT {', '.join(contact_values.get(c, 'NULL') for c in columns)} "
            f"FROM {TABLE} r JOIN {SIMPLE} s ON s.rownum = r.rownum "
            f"LEFT JOIN {TAKEN} t ON t.rownum = r.rownum",
            values,
        )
        return cursor.rowcount


def insert_simple_tags(tags_table: str) -> None:
    """The simple rows' tags, by name, into `tags_table` (the bulk writer adds them)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {tags_table} (contact_id, name) "
            "SELECT CAST(r.new_id AS uuid), unnest(string_to_array(r.tags, ';')) "
            f"FROM {TABLE} r JOIN {SIMPLE} s ON s.rownum = r.rownum WHERE r.tags <> ''"
        )


def insert_simple_events_and_states(
    outcomes: Sequence[Outcome], values: dict[str, Any]
) -> tuple[int, int]:
    """The simple rows' events, chained, and the states they leave; (events, not applied)."""
    listed, params = _with_outcomes(outcomes, values)
    event_columns, state_columns = columns_of(ConsentEvent), _state_columns()
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE "
            + _staged_events_sql(listed)
            + f""",
            ev AS (
                INSERT INTO {ConsentEvent._meta.db_table} ({", ".join(event_columns)})
                SELECT {", ".join(_EVENT_VALUES[c] for c in event_columns)} FROM chain
                RETURNING {", ".join(_RETURNED)}
            ),
            st AS (
                INSERT INTO {ConsentState._meta.db_table} ({", ".join(state_columns)})
                SELECT DISTINCT ON (contact_id, purpose)
                       {", ".join(_STATE_VALUES[c] for c in state_columns)}
                FROM ev JOIN (VALUES {listed}) o(purpose, action, applied, status_after,
                    permissive) USING (purpose, action, applied, status_after)
                WHERE applied ORDER BY contact_id, purpose, seq DESC
                RETURNING 1
            )
            SELECT (SELECT COUNT(*) FROM ev), (SELECT COUNT(*) FROM ev WHERE NOT applied)
            """,
            params,
        )
        return cursor.fetchone()


# --- Planned rows written in bulk (imports.writing) --------------------------------------
# New contacts, their events and states go straight into their tables with COPY;
# changes to existing contacts and states go through temporary tables and one UPDATE /
# upsert each.

UPDATES = "import_contact_update"
TAGS = "import_tag"
STATES = "import_state"
OUTRANKED = "import_outranked"
UPDATE_COLUMNS = (
    "phone",
    "phone_hash",
    "wa_id",
    "whatsapp_user_id",
    "external_id",
    "name",
    "language",
    "attributes",
)


def copy_into(table: str, columns: Sequence[str]) -> str:
    """The COPY statement loading `columns` of `table` from text."""
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    return f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN"


def copy_statements(copied: dict[str, tuple[str, Sequence[str]]]) -> dict[str, str]:
    """The COPY statement of each kind of planned row, in the order they are written:
    `copied` names the model tables (and their columns) the plans fill."""
    statements = {key: copy_into(table, columns) for key, (table, columns) in copied.items()}
    return {
        "contacts": statements["contacts"],
        "updates": f"COPY {UPDATES} (id, {', '.join(UPDATE_COLUMNS)}) FROM STDIN",
        "tags": f"COPY {TAGS} (contact_id, name) FROM STDIN",
        "events": statements["events"],
        "evidence": statements["evidence"],
        "states": statements["states"],
        "changed_states": statements["changed_states"],
        "outranked": f"COPY {OUTRANKED} FROM STDIN",
    }


def create_bulk_tables(state_columns: Sequence[str]) -> None:
    """The temporary tables the bulk writer copies changes into (dropped at commit)."""
    update_columns = ", ".join(
        f"{c} {'jsonb' if c == 'attributes' else 'text'}" for c in UPDATE_COLUMNS
    )
    with connection.cursor() as cursor:
        for table in (UPDATES, TAGS, STATES, OUTRANKED):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in (
            f"CREATE TEMPORARY TABLE {UPDATES} (id uuid, {update_columns}) ON COMMIT DROP",
            f"CREATE TEMPORARY TABLE {TAGS} (contact_id uuid, name text) ON COMMIT DROP",
            f"CREATE TEMPORARY TABLE {STATES} ON COMMIT DROP AS SELECT "
            + ", ".join(state_columns)
            + f" FROM {ConsentState._meta.db_table} WITH NO DATA",
            f"CREATE TEMPORARY TABLE {OUTRANKED} (event_id uuid, contact_id uuid, "
            "purpose text, seq integer) ON COMMIT DROP",
        ):
            cursor.execute(statement)


def copy_rows(statements: dict[str, str], texts: dict[str, str]) -> None:
    """Each kind's COPY text through its statement, in the statements' order."""
    with connection.cursor() as cursor:
        for key, statement in statements.items():
            if texts.get(key):
                with cursor.copy(statement) as copy:
                    copy.write(texts[key])


def apply_bulk_changes(now: datetime, state_columns: Sequence[str]) -> None:
    """Once every plan is copied: contacts updated, tags added, states upserted, and each
    outranked opt-out listed beside the answer that outranked it."""
    contact_table = Contact._meta.db_table
    through = Contact.tags.through._meta.db_table
    kept = ("contact_id", "purpose")
    permissive = ", ".join(f"'{a}'" for a in sorted(PERMISSIVE_ACTIONS))
    columns = ", ".join(state_columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {contact_table} c SET "
            + ", ".join(f"{col} = COALESCE(u.{col}, c.{col})" for col in UPDATE_COLUMNS)
            + f", updated_at = %s FROM {UPDATES} u WHERE c.id = u.id",
            [now],
        )
        cursor.execute(
            f"INSERT INTO {Tag._meta.db_table} (name) SELECT DISTINCT name FROM {TAGS} "
            "ON CONFLICT (name) DO NOTHING"
        )
        cursor.execute(
            f"INSERT INTO {through} (contact_id, tag_id) SELECT it.contact_id, t.id "
            f"FROM {TAGS} it JOIN {Tag._meta.db_table} t ON t.name = it.name "
            "ON CONFLICT DO NOTHING"
        )
        cursor.execute(
            f"INSERT INTO {ConsentState._meta.db_table} ({columns}) "
            f"SELECT {columns} FROM {STATES} ON CONFLICT (contact_id, purpose) DO UPDATE SET "
            + ", ".join(f"{c} = EXCLUDED.{c}" for c in state_columns if c not in kept)
        )
        # Listed for staff beside the answer that outranked it, as record_consent lists it.
        cursor.execute(
            f"INSERT INTO {OutrankedOptOut._meta.db_table} "
            "(event_id, outranked_by_id, resolution, created_at) "
            f"SELECT o.event_id, (SELECT e.id FROM {ConsentEvent._meta.db_table} e "
            "WHERE e.contact_id = o.contact_id AND e.purpose = o.purpose AND e.applied "
            f"AND e.action IN ({permissive}) AND e.seq < o.seq ORDER BY e.seq DESC LIMIT 1), "
            f"%s, %s FROM {OUTRANKED} o",
            [OutrankedOptOut.Resolution.PENDING, now],
        )
