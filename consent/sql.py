"""The consent app's hand-written SQL: each statement named for what it does, tables and
columns named by the models, the database vendor decided here.

Recording a consent on PostgreSQL is four round trips with its BEGIN and COMMIT, whatever it
writes (`pipelined`: the lock and the read sent together; the event's one write statement
and its receivers' sent together), where the ORM took nine to thirteen.
"""

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, cast
from uuid import UUID

import psycopg
from django.db import connection, models, transaction
from django.db.models import ForeignKey, UUIDField
from django.utils.dateparse import parse_datetime

from contacts.models import Contact

from .chain import CURRENT_FORM, FIELDS_OF_FORM
from .models import ConsentEvent, ConsentEvidence, ConsentState, LedgerSeal, SealedHead

_STATE_FIELDS = list(ConsentState._meta.concrete_fields)


def lock_contact_and_read(
    contact: Contact, purpose: str, idempotency_key: str | None
) -> tuple[ConsentState | None, dict[str, Any] | None, Any]:
    """Lock the contact, then read its state for `purpose`, its chain's head, the keyed event.

    Two statements, sent together on PostgreSQL: one round trip (psycopg's BEGIN, when
    this opens the transaction, is one before it). The read is a statement of its own
    after the lock, not part of the locking one: a statement that waited for the lock
    would see the state and head of its own (older) snapshot, and fork the chain.
    """
    contact_id = Contact._meta.pk.get_db_prep_value(contact.pk, connection)
    params = {"contact": contact_id, "purpose": purpose, "key": idempotency_key}
    with pipelined(), connection.cursor() as cursor:
        cursor.execute(_lock_sql(), [contact_id])
        cursor.execute(_read_sql(), params)
        found, *stored, head_seq, head_hash, earlier_id = cursor.fetchone()
    if not found:
        raise Contact.DoesNotExist(f"no contact {contact.pk}")
    state = None
    if stored[0] is not None:
        state = ConsentState.from_db(
            ConsentState.objects.db, [f.attname for f in _STATE_FIELDS], _from_db(stored)
        )
    last = {"seq": head_seq, "hash": head_hash} if head_seq else None
    return state, last, earlier_id


@contextmanager
def pipelined() -> Iterator[None]:
    """PostgreSQL: the statements run here go to the server without waiting for each
    other's answers (psycopg's pipeline mode); a fetch waits for everything sent before
    it, and the end for everything. Elsewhere, or already in a pipeline: nothing changes.

    Only for statements whose answer is fetched or not needed: a row count (an ORM
    update's or save's) is not known until the answer comes, and reads as nothing.
    """
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    raw = connection.connection
    if raw.pgconn.pipeline_status != psycopg.pq.PipelineStatus.OFF:
        yield
        return
    # An error of a statement sent here is raised at the pipeline's end, by psycopg: as
    # Django's own error, as if the statement had raised it.
    with connection.wrap_database_errors, raw.pipeline():
        yield


@cache
def _lock_sql() -> str:
    q = connection.ops.quote_name
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    pk = cast(str, Contact._meta.pk.column)  # the primary key is a concrete column
    return f"SELECT 1 FROM {q(Contact._meta.db_table)} WHERE {q(pk)} = %s{lock}"  # noqa: S608


@cache
def _read_sql() -> str:
    """The read after the lock, written once from the models' tables and columns.

    Measured: building it (and the lock) through the ORM took about 10 ms of Python
    per event; the queries themselves take 0.1 ms.
    """
    q = connection.ops.quote_name
    state, event = ConsentState._meta, ConsentEvent._meta
    table, by_contact = q(event.db_table), q(event.get_field("contact").column)
    head = f"FROM {table} WHERE {by_contact} = %(contact)s ORDER BY {q('seq')} DESC LIMIT 1"
    # Concrete fields all have a column.
    columns = ", ".join(f"s.{q(cast(str, f.column))}" for f in _STATE_FIELDS)
    contacts, pk = q(Contact._meta.db_table), q(cast(str, Contact._meta.pk.column))
    found = f"EXISTS (SELECT 1 FROM {contacts} WHERE {pk} = %(contact)s)"  # noqa: S608
    return (
        f"SELECT {found}, {columns}, (SELECT {q('seq')} {head}), (SELECT {q('hash')} {head}), "  # noqa: S608
        f"(SELECT {q('id')} FROM {table} WHERE {q('idempotency_key')} = %(key)s) "
        f"FROM (SELECT 1 AS one) AS one LEFT JOIN {q(state.db_table)} s "
        f"ON s.{q(state.get_field('contact').column)} = %(contact)s "
        f"AND s.{q(cast(str, state.get_field('purpose').column))} = %(purpose)s"
    )


def _from_db(values: list[Any]) -> list[Any]:
    """Column values as the ORM would give them (SQLite stores instants and ids as text)."""
    converted = []
    for model_field, value in zip(_STATE_FIELDS, values, strict=True):
        column = model_field.get_col(ConsentState._meta.db_table)
        converters = connection.ops.get_db_converters(column)
        for convert in converters + model_field.get_db_converters(connection):
            value = convert(value, column, connection)
        converted.append(value)
    return converted


def write_event(
    event: ConsentEvent,
    personal: ConsentEvidence | None,
    state: ConsentState | None,
    audit: models.Model | None = None,
) -> None:
    """Insert the event (its evidence, its staff audit row) and save the projected state.

    On PostgreSQL in one statement (the inserts as data-modifying CTEs, the state as an
    upsert on its (contact, purpose) key) that returns nothing, so that it can go out in
    a pipeline with the statements that follow it.
    """
    db = transaction.get_connection()
    if db.vendor != "postgresql":
        for row in (event, personal, audit):
            if row is not None:
                row.save(force_insert=True)
        if state is not None:
            state.save()
        return
    rows = [row for row in (event, personal, audit, state) if row is not None]
    shape = tuple(type(row) for row in (event, personal, audit))
    statement = _write_sql(shape, state is not None)
    params = [value for row in rows for value in _prepared(row, db)]
    with db.cursor() as cursor:
        cursor.execute(statement, params)
    for row in rows:
        row._state.adding = False
        row._state.db = db.alias


@cache
def _write_sql(inserted: tuple[type, ...], upserts_state: bool) -> str:
    """write_event's statement for rows of these models (None: no such row), written once:
    measured, building it per event was a third of record_consent's Python."""
    q = connection.ops.quote_name
    parts = []
    for name, model in zip(("event", "evidence", "audit"), inserted, strict=True):
        if model is not type(None):
            table, columns, values = _insert_values(model)
            parts.append(f"{name} AS (INSERT INTO {table} ({columns}) VALUES ({values}))")  # noqa: S608
    statement = "WITH " + ", ".join(parts)
    if not upserts_state:
        return statement + " SELECT 1"
    table, columns, values = _insert_values(ConsentState)
    kept = {"id", "contact_id", "purpose"}
    # Concrete fields all have a column.
    columns_set = [cast(str, f.column) for f in _inserted_fields(ConsentState)]
    updates = ", ".join(f"{q(c)} = EXCLUDED.{q(c)}" for c in columns_set if c not in kept)
    conflict = f"ON CONFLICT (contact_id, purpose) DO UPDATE SET {updates}"
    return f"{statement} INSERT INTO {table} ({columns}) VALUES ({values}) {conflict}"  # noqa: S608


@cache
def _inserted_fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    """The fields an INSERT gives: all concrete ones but an automatic primary key."""
    return tuple(
        f
        for f in model._meta.concrete_fields
        if not (f.primary_key and isinstance(f, models.AutoField | models.BigAutoField))
    )


def _prepared(instance: models.Model, db: Any) -> list[Any]:
    """The value for the database of each field an INSERT gives, as save() prepares it."""
    adding = instance._state.adding
    return [
        f.get_db_prep_save(f.pre_save(instance, adding), db)
        for f in _inserted_fields(type(instance))
    ]


def _insert_values(model: type[models.Model]) -> tuple[str, str, str]:
    q = connection.ops.quote_name
    fields = _inserted_fields(model)
    return (
        q(model._meta.db_table),
        ", ".join(q(cast(str, f.column)) for f in fields),
        ", ".join(["%s"] * len(fields)),
    )


# --- Eligibility (consent.selectors.may_send and may_send_many) ------------------------

# PostgreSQL one prepared-shape statement, as the bulk path below, instead of compiling
# the ORM query per call (which cost more than the query itself; bench/eligibility.py).
_SINGLE_SQL = f"""
SELECT c.merged_into_id, s.status, s.expires_at, s.paused_until, c.blocked_at
FROM {Contact._meta.db_table} c
LEFT JOIN {ConsentState._meta.db_table} s ON s.contact_id = c.id AND s.purpose = %s
WHERE c.{{column}} = %s LIMIT 1
"""  # noqa: S608 (table and column names from the code; values are parameters)


def state_row_by_unique_column(column: str, value: Any, purpose: str) -> tuple | None:
    """PostgreSQL: (merged_into_id, status, expires_at, paused_until, blocked_at) of the
    contact whose unique `column` (one of the code's, never a caller's) is `value`; None
    for nobody."""
    with connection.cursor() as cursor:
        cursor.execute(_SINGLE_SQL.format(column=column), [purpose, value])
        return cursor.fetchone()


# The bulk eligibility hot path: PostgreSQL plans `IN (…10,000 values…)` as a
# sequential scan of every contact; joining the unnested array instead probes the
# phone_hash index once per phone, in one query (measured by bench/eligibility.py).
_BULK_SQL = f"""
SELECT c.phone_hash, s.status, s.expires_at, s.paused_until, c.blocked_at
FROM unnest(string_to_array(%s, ',')) AS wanted(phone_hash)
JOIN {Contact._meta.db_table} c ON c.phone_hash = wanted.phone_hash
LEFT JOIN {ConsentState._meta.db_table} s
  ON s.contact_id = COALESCE(c.merged_into_id, c.id) AND s.purpose = %s
"""  # noqa: S608 (table names from the models; values are parameters)


def states_by_phone_hash(hashes: list[str], purpose: str) -> dict[str, dict[str, Any]]:
    """PostgreSQL: phone hash → its contact's state for `purpose` (the survivor's, for a
    merged duplicate), as `selectors._decide_row` reads it; unknown hashes left out."""
    if not hashes:
        return {}
    with connection.cursor() as cursor:
        # One comma-joined text (the hashes are hex): psycopg would quote 10,000 array items.
        cursor.execute(_BULK_SQL, [",".join(hashes), purpose])
        return {
            digest: {
                "state__status": status,
                "state__expires_at": expires_at,
                "state__paused_until": paused_until,
                "blocked_at": blocked_at,
            }
            for digest, status, expires_at, paused_until, blocked_at in cursor.fetchall()
        }


# --- Seals (consent.seals) ---------------------------------------------------------------

HEADS_FETCH = 10_000
Head = tuple[str, int, str]  # (contact id as text, last seq, last hash)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def contact_text(value: Any) -> str:
    return value if "-" in str(value) else str(UUID(str(value)))


def _stream(statement: str, params: list | None = None) -> Iterator[Head]:
    """Rows (contact id text, seq, hash) through one server-side cursor (in a transaction)."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(statement, params or [])
        postgres = connection.vendor == "postgresql"
        while rows := cursor.fetchmany(HEADS_FETCH):
            if postgres:
                yield from rows
            else:
                for contact_id, seq, head_hash in rows:
                    yield contact_text(contact_id), seq, head_hash


def _contact_column(table: str, column: str) -> str:
    cast = "::text" if connection.vendor == "postgresql" else ""
    return f"{table}.{_q(column)}{cast}"


def ledger_heads_sql() -> str:
    """Every chain's last event, in contact-id order."""
    events = _q(ConsentEvent._meta.db_table)
    return (
        f"SELECT {_contact_column('e', 'contact_id')}, e.seq, e.hash "  # noqa: S608
        f"FROM {events} e JOIN (SELECT contact_id, MAX(seq) AS seq FROM {events} "
        "GROUP BY contact_id) h ON h.contact_id = e.contact_id AND h.seq = e.seq "
        "ORDER BY e.contact_id"
    )


def sealed_heads_sql() -> str:
    """The heads a seal saw (params: seal id, seal id), in contact-id order."""
    heads = _q(SealedHead._meta.db_table)
    return (
        f"SELECT {_contact_column('s', 'contact_id')}, s.seq, s.hash "  # noqa: S608
        f"FROM {heads} s JOIN (SELECT contact_id, MAX(seq) AS seq FROM {heads} "
        "WHERE seal_id <= %s GROUP BY contact_id) m "
        "ON m.contact_id = s.contact_id AND m.seq = s.seq WHERE s.seal_id <= %s "
        "ORDER BY s.contact_id"
    )


def ledger_heads() -> Iterator[Head]:
    """Every chain's last event, in contact-id order, through one server-side cursor."""
    return _stream(ledger_heads_sql())


def sealed_heads(seal_id: int) -> Iterator[Head]:
    """The heads seal `seal_id` saw, in contact-id order."""
    return _stream(sealed_heads_sql(), [seal_id, seal_id])


def read_one_snapshot() -> None:
    """PostgreSQL, first in a transaction: every read of it sees the same snapshot."""
    with connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def store_changed_heads(seal_id: int, *, first: bool) -> None:
    """Store each chain's head for seal `seal_id`: all of them for the first seal, else the
    heads that moved since a seal saw them."""
    events, heads = _q(ConsentEvent._meta.db_table), _q(SealedHead._meta.db_table)
    statement = (
        f"INSERT INTO {heads} (seal_id, contact_id, seq, hash) "  # noqa: S608
        f"SELECT %s, e.contact_id, e.seq, e.hash FROM {events} e "
        f"JOIN (SELECT contact_id, MAX(seq) AS seq FROM {events} GROUP BY contact_id) h "
        "ON h.contact_id = e.contact_id AND h.seq = e.seq"
    )
    if not first:
        # Only the heads that moved since a seal saw them.
        statement += (
            f" WHERE NOT EXISTS (SELECT 1 FROM {heads} p "  # noqa: S608
            "WHERE p.contact_id = e.contact_id AND p.seq = e.seq)"
        )
    with connection.cursor() as cursor:
        cursor.execute(statement, [seal_id])


def heads_differing_from_the_ledger() -> list[tuple]:
    """(contact, seq, sealed hash, ledger hash or None, seal seq, chain's last seq or None)
    of every sealed head the ledger no longer has as it was, by contact and seq."""
    events, heads = _q(ConsentEvent._meta.db_table), _q(SealedHead._meta.db_table)
    seals = _q(LedgerSeal._meta.db_table)
    statement = (
        f"SELECT {_contact_column('s', 'contact_id')}, s.seq, s.hash, e.hash, l.seq, "  # noqa: S608
        f"(SELECT MAX(seq) FROM {events} x WHERE x.contact_id = s.contact_id) "
        f"FROM {heads} s JOIN {seals} l ON l.id = s.seal_id "
        f"LEFT JOIN {events} e ON e.contact_id = s.contact_id AND e.seq = s.seq "
        "WHERE e.hash IS NULL OR e.hash <> s.hash ORDER BY s.contact_id, s.seq"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement)
        return cursor.fetchall()


# --- Whole-ledger passes (consent.verification) ------------------------------------------

LEDGER_FETCH = 5000
Bounds = tuple[UUID | None, UUID | None]


def _is_uuid(model_field) -> bool:
    target = model_field.target_field if isinstance(model_field, ForeignKey) else model_field
    return isinstance(target, UUIDField)


def _select(
    model,
    names: tuple[str, ...],
    bounds: Bounds,
    order: tuple[str, ...],
    contacts: list[UUID] | None = None,
) -> tuple[str, list]:
    """SELECT of `names` (model field names) for contacts within `bounds`, ids as text;
    with `contacts`, only theirs (PostgreSQL)."""
    postgres = connection.vendor == "postgresql"
    quote = connection.ops.quote_name
    columns = []
    for name in names:
        column = quote(model._meta.get_field(name).column)
        columns.append(
            f"{column}::text" if postgres and _is_uuid(model._meta.get_field(name)) else column
        )
    where, params = [], []
    contact = quote(model._meta.get_field("contact").column)
    uuid_field = Contact._meta.pk
    if bounds[0] is not None:
        where.append(f"{contact} >= %s")
        params.append(uuid_field.get_db_prep_value(bounds[0], connection))
    if bounds[1] is not None:
        where.append(f"{contact} < %s")
        params.append(uuid_field.get_db_prep_value(bounds[1], connection))
    if contacts is not None:
        where.append(f"{contact} = ANY(%s)")
        params.append(contacts)
    statement = f"SELECT {', '.join(columns)} FROM {quote(model._meta.db_table)}"  # noqa: S608
    if where:
        statement += f" WHERE {' AND '.join(where)}"
    # By the stored columns (not the text casts), so the (contact, …) index serves it.
    ordering = ", ".join(quote(model._meta.get_field(name).column) for name in order)
    return f"{statement} ORDER BY {ordering}", params


def _converters(model, names: tuple[str, ...]) -> list[tuple[int, Callable[[Any], Any]]]:
    """What turns a column as the driver returns it into the plain value hashed."""
    postgres = connection.vendor == "postgresql"
    found: list[tuple[int, Callable[[Any], Any]]] = []
    for i, name in enumerate(names):
        model_field = model._meta.get_field(name)
        kind = model_field.get_internal_type()
        if kind == "JSONField":
            found.append((i, _json))
        elif postgres:
            continue
        elif _is_uuid(model_field):
            found.append((i, _uuid_text))
        elif kind == "DateTimeField":
            found.append((i, _aware))
        elif kind == "BooleanField":
            found.append((i, _bool))
    return found


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _uuid_text(value: Any) -> str | None:
    return None if value is None else str(uuid.UUID(str(value)))


def _aware(value: Any) -> Any:
    # SQLite gives naive UTC datetimes (or text, without its converters).
    if isinstance(value, str):
        value = parse_datetime(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _bool(value: Any) -> Any:
    return None if value is None else bool(value)


def stream_rows(
    model,
    names: tuple[str, ...],
    bounds: Bounds,
    order: tuple[str, ...],
    contacts: list[UUID] | None = None,
) -> Iterator[list]:
    """Rows (lists, in `names` order) through one server-side cursor, inside a transaction."""
    statement, params = _select(model, names, bounds, order, contacts)
    convert = _converters(model, names)
    # chunked_cursor is a named (server-side) cursor on PostgreSQL; inside a
    # transaction it streams instead of materialising WITH HOLD.
    with connection.chunked_cursor() as cursor:
        if connection.vendor == "postgresql":
            _compiled_instants(cursor.cursor)
        cursor.execute(statement, params)
        while rows := cursor.fetchmany(LEDGER_FETCH):
            for row in rows:
                row = list(row)
                for i, to_plain in convert:
                    row[i] = to_plain(row[i])
                yield row


def _compiled_instants(cursor: Any) -> None:
    """Load timestamptz with psycopg's compiled loader on this cursor.

    Django registers a pure-Python one (to attach the connection's zone, UTC here):
    measured, a fifth of a whole-ledger pass.
    """
    oid = psycopg.postgres.types["timestamptz"].oid
    cursor.adapters.register_loader(oid, psycopg.adapters.get_loader(oid, psycopg.pq.Format.TEXT))


def estimated_events() -> int:
    """The ledger's size for a progress bar: the planner's estimate, else a count."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [ConsentEvent._meta.db_table],
            )
            row = cursor.fetchone()
        if row and row[0] > 0:
            return row[0]
    return ConsentEvent.objects.count()


# --- Chains hashed in the database (consent.verification) --------------------------------
#
# The canonical serialisation (consent.chain.canonical_bytes: JSON with sorted keys, no
# spaces, times as UTC ISO text with microseconds) written out in SQL for events of the
# current form, so PostgreSQL hashes every row where it lies and sends back only the
# contacts whose rows do not check out. A row it cannot serialise exactly as Python does
# (a form-1 event, whose evidence is hashed inline; a context holding a number that is not
# an integer, whose text Python would write differently) gets no SQL hash: its contact is
# sent back too, and consent.verification checks those chains in Python, so the verdicts
# are the Python path's.

# The context's canonical text: objects by key (code point order, as Python sorts),
# arrays in order, strings escaped as json.dumps(ensure_ascii=False) does (PostgreSQL's
# to_json escapes the same characters the same way); NULL for anything else, so the
# row goes to Python.
CANONICAL_JSON = """
CREATE OR REPLACE FUNCTION pg_temp.consent_canonical_json(value jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    kind text := jsonb_typeof(value);
    parts text[];
    complete boolean;
BEGIN
    IF kind = 'object' THEN
        SELECT array_agg(to_json(key)::text || ':' || pg_temp.consent_canonical_json(item)
                         ORDER BY key COLLATE "C"),
               bool_and(pg_temp.consent_canonical_json(item) IS NOT NULL)
          INTO parts, complete FROM jsonb_each(value) AS e(key, item);
        IF parts IS NULL THEN RETURN '{}'; END IF;
        IF NOT complete THEN RETURN NULL; END IF;
        RETURN '{' || array_to_string(parts, ',') || '}';
    ELSIF kind = 'array' THEN
        SELECT array_agg(pg_temp.consent_canonical_json(item) ORDER BY n),
               bool_and(pg_temp.consent_canonical_json(item) IS NOT NULL)
          INTO parts, complete FROM jsonb_array_elements(value) WITH ORDINALITY AS a(item, n);
        IF parts IS NULL THEN RETURN '[]'; END IF;
        IF NOT complete THEN RETURN NULL; END IF;
        RETURN '[' || array_to_string(parts, ',') || ']';
    ELSIF kind = 'string' THEN
        RETURN to_json(value #>> '{}')::text;
    ELSIF kind = 'number' THEN
        IF value::text ~ '^(0|-?[1-9][0-9]*)$' THEN RETURN value::text; END IF;
        RETURN NULL;
    ELSIF kind = 'boolean' THEN
        RETURN value::text;
    END IF;
    RETURN 'null';
END;
$$;
"""

_INSTANT = "'\"' || to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00\"'"


def _value_sql(name: str) -> str:
    """The canonical JSON text of one chained field, as an SQL expression over the row."""
    model_field = cast(models.Field, ConsentEvent._meta.get_field(name))
    column = connection.ops.quote_name(cast(str, model_field.column))
    kind = model_field.get_internal_type()
    if name in ("id", "contact"):
        return f"'\"' || {column}::text || '\"'"
    if kind == "DateTimeField":
        return f"coalesce({_INSTANT.format(c=column)}, 'null')"
    if kind == "JSONField":
        return (
            f"CASE WHEN {column} = '{{}}'::jsonb THEN '{{}}' "
            f"ELSE pg_temp.consent_canonical_json({column}) END"
        )
    if kind in ("BooleanField",):
        return f"coalesce(to_json({column})::text, 'null')"
    if kind in ("CharField", "TextField"):
        return f"coalesce(to_json({column})::text, 'null')"
    # Integers and foreign keys to integer ids.
    return f"coalesce({column}::text, 'null')"


# The forms SQL hashes (form 1 hashes evidence that lives in another table: Python's).
SQL_FORMS = (2, CURRENT_FORM)


def canonical_sql(form: int = CURRENT_FORM) -> str:
    """The canonical text of an event of `form` (2 or later), built in SQL."""
    members = [f"'\"{name}\":' || {_value_sql(name)}" for name in sorted(FIELDS_OF_FORM[form])]
    return "'{' || " + " || ',' || ".join(members) + " || '}'"


def _hash_sql() -> str:
    """The hash of an event of any of SQL_FORMS, NULL for another form."""
    cases = " ".join(
        f"WHEN {form:d} THEN encode(sha256(convert_to({canonical_sql(form)}, 'UTF8')), 'hex')"
        for form in SQL_FORMS
    )
    return f"CASE form {cases} END"


@dataclass
class DatabaseVerification:
    chains: int = 0
    events: int = 0
    # Contacts with a row the database found wrong or could not hash: Python checks them.
    suspects: list[uuid.UUID] = field(default_factory=list)


def verify_in_database(bounds: Bounds) -> DatabaseVerification:
    """Every chain of contacts within `bounds` ([low, high)), hashed and linked in SQL."""
    events = connection.ops.quote_name(ConsentEvent._meta.db_table)
    where, params = [], []
    if bounds[0] is not None:
        where.append("contact_id >= %s")
        params.append(bounds[0])
    if bounds[1] is not None:
        where.append("contact_id < %s")
        params.append(bounds[1])
    condition = f"WHERE {' AND '.join(where)}" if where else ""
    statement = f"""
        SELECT count(*), count(*) FILTER (WHERE position = 1),
               array_agg(DISTINCT contact_id) FILTER (WHERE NOT coalesce(ok, false))
        FROM (
            SELECT contact_id, row_number() OVER chain AS position,
                   seq = row_number() OVER chain
                   AND prev_hash IS NOT DISTINCT FROM lag(hash) OVER chain
                   AND {_hash_sql()} = hash
                   AS ok
            FROM {events} {condition}
            WINDOW chain AS (PARTITION BY contact_id ORDER BY seq)
        ) checked
    """  # noqa: S608  (names from the model, values as parameters)
    with connection.cursor() as cursor:
        cursor.execute(CANONICAL_JSON)
        cursor.execute(statement, params)
        count, chains, suspects = cursor.fetchone()
    return DatabaseVerification(
        chains=chains, events=count, suspects=sorted(uuid.UUID(str(s)) for s in suspects or [])
    )
