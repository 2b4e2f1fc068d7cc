"""The ledger's chains checked inside PostgreSQL: SHA-256 and links in one statement.

The canonical serialisation (consent.chain.canonical_bytes: JSON with sorted keys,
no spaces, times as UTC ISO text with microseconds) is written out in SQL for events
of the current form, so PostgreSQL hashes every row where it lies and sends back only
the rows that do not check out. A row it cannot serialise exactly as Python does
(a form-1 event, whose evidence is hashed inline; a context holding a number that is
not an integer, whose text Python would write differently) gets no SQL hash: it is
sent back too, and `consent.verification` checks those chains in Python, so the verdicts
are the Python path's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import cast

from django.db import connection

from core.db import concrete_field

from .chain import CHAINED_FIELDS, CURRENT_FORM
from .models import ConsentEvent

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
    model_field = concrete_field(ConsentEvent, name)
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


def canonical_sql() -> str:
    """The canonical text of an event of the current form, built in SQL."""
    members = [f"'\"{name}\":' || {_value_sql(name)}" for name in sorted(CHAINED_FIELDS)]
    return "'{' || " + " || ',' || ".join(members) + " || '}'"


@dataclass
class SqlVerification:
    chains: int = 0
    events: int = 0
    # Contacts with a row the database found wrong or could not hash: Python checks them.
    suspects: list[uuid.UUID] = field(default_factory=list)


def verify_in_database(bounds: tuple[uuid.UUID | None, uuid.UUID | None]) -> SqlVerification:
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
    sql = f"""
        SELECT count(*), count(*) FILTER (WHERE position = 1),
               array_agg(DISTINCT contact_id) FILTER (WHERE NOT coalesce(ok, false))
        FROM (
            SELECT contact_id, row_number() OVER chain AS position,
                   seq = row_number() OVER chain
                   AND prev_hash IS NOT DISTINCT FROM lag(hash) OVER chain
                   AND form = {CURRENT_FORM:d}
                   AND encode(sha256(convert_to({canonical_sql()}, 'UTF8')), 'hex') = hash
                   AS ok
            FROM {events} {condition}
            WINDOW chain AS (PARTITION BY contact_id ORDER BY seq)
        ) checked
    """  # noqa: S608  (names from the model, values as parameters)
    with connection.cursor() as cursor:
        cursor.execute(CANONICAL_JSON)
        cursor.execute(sql, params)
        count, chains, suspects = cursor.fetchone()
    return SqlVerification(
        chains=chains, events=count, suspects=sorted(uuid.UUID(str(s)) for s in suspects or [])
    )
