"""The integrations app's hand-written SQL, one named statement after another."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import connection

from consent.models import ConsentEvent
from contacts.models import Contact

from .models import Change, Delivery, WebhookEndpoint

UNBOUNDED = 2**63 - 1

# The oldest transaction id still running in this database, or the next one to be given
# out: no change below it can appear later. pg_stat_activity holds 32-bit xids; they are
# widened against the snapshot's 64-bit xmax (running xids are within 2^31 of it).
_HORIZON_SQL = """
WITH s AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax)
SELECT LEAST(s.xmax, MIN(s.xmax - ((s.xmax % 4294967296
                                    - a.backend_xid::text::bigint + 4294967296) % 4294967296)))
FROM s LEFT JOIN pg_stat_activity a
  ON a.datname = current_database() AND a.backend_xid IS NOT NULL
GROUP BY s.xmax
"""


def visibility_horizon() -> int:
    """Changes with a txid below this have all committed or rolled back, for good.

    Read in statements of its own, before the changes are: a transaction that ends
    between this and the read is then visible to the read. pg_stat_activity is cached
    for the rest of a transaction once read: the cache is cleared first. Only this
    database's transactions count (pg_current_snapshot()'s xmin would wait for every
    database on the server).
    """
    if connection.vendor != "postgresql":
        return UNBOUNDED
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(_HORIZON_SQL)
        return int(cursor.fetchone()[0])


def commit_without_flush_wait() -> None:
    """This transaction commits without waiting for the disk (PostgreSQL)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _imported_changes_sql() -> str:
    events, contacts = ConsentEvent._meta.db_table, Contact._meta.db_table
    changes = Change._meta.db_table
    return f"""
    WITH touched AS (
        SELECT DISTINCT contact_id FROM {events}
        WHERE recorded_at = %(at)s AND context ? 'import'
    ),
    ledger AS (
        SELECT e.*, LAG(e.status_after) OVER (
            PARTITION BY e.contact_id, e.purpose ORDER BY e.seq) AS status_before
        FROM {events} e WHERE e.contact_id IN (SELECT contact_id FROM touched)
    ),
    created AS (
        SELECT c.* FROM {contacts} c
        WHERE c.created_at = %(at)s
          AND NOT EXISTS (SELECT 1 FROM {changes} ch WHERE ch.contact_id = c.id)
    ),
    owed AS (
        SELECT id AS contact_id, 0 AS ord, 0 AS seq, %(created)s AS type,
               jsonb_build_object('phone', NULLIF(phone, ''), 'wa_id', wa_id,
                                  'whatsapp_user_id', whatsapp_user_id,
                                  'external_id', external_id) AS data
        FROM created
        UNION ALL
        SELECT contact_id, 1, seq, %(consent)s,
               jsonb_build_object('purpose', purpose, 'topic', NULL, 'action', action,
                                  'status_before', COALESCE(status_before, 'none'),
                                  'status_after', status_after, 'applied', applied,
                                  'source', source, 'event', id::text,
                                  'occurred_at', to_jsonb(occurred_at))
        FROM ledger WHERE recorded_at = %(at)s AND context ? 'import'
    ),
    numbered_from AS (
        SELECT contact_id, MAX(sequence) AS last FROM {changes}
        WHERE contact_id IN (SELECT contact_id FROM owed) GROUP BY contact_id
    )
    INSERT INTO {changes} (event_id, type, contact_id, sequence, data, created_at, txid)
    SELECT gen_random_uuid(), o.type, o.contact_id,
           COALESCE(n.last, 0) + ROW_NUMBER() OVER (
               PARTITION BY o.contact_id ORDER BY o.ord, o.seq),
           o.data, %(now)s, pg_current_xact_id()::text::bigint
    FROM owed o LEFT JOIN numbered_from n USING (contact_id)
    ORDER BY o.contact_id, o.ord, o.seq
    RETURNING id, type
    """  # noqa: S608 (table names from the models; values are parameters)


def insert_imported_changes(*, at: datetime, now: datetime, created: str, consent: str) -> list:
    """(id, type) of the changes written for what an import wrote at `at`."""
    with connection.cursor() as cursor:
        cursor.execute(
            _imported_changes_sql(),
            {"at": at, "now": now, "created": created, "consent": consent},
        )
        return cursor.fetchall()


def insert_deliveries(
    *, endpoint_id: Any, change_ids: list[int], pending: str, now: datetime
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Delivery._meta.db_table} (endpoint_id, change_id, contact_id,
                sequence, status, attempts, next_attempt_at, last_error, created_at)
            SELECT %(endpoint)s, id, contact_id, sequence, %(pending)s, 0, %(now)s, '',
                   %(now)s
            FROM {Change._meta.db_table} WHERE id = ANY(%(ids)s)
            """,  # noqa: S608 (table names from the models)
            {"endpoint": endpoint_id, "pending": pending, "now": now, "ids": change_ids},
        )


def _change_sql() -> str:
    changes, deliveries = Change._meta.db_table, Delivery._meta.db_table
    endpoints = WebhookEndpoint._meta.db_table
    return f"""
    WITH change AS (
        INSERT INTO {changes} (event_id, type, contact_id, sequence, data, created_at, txid)
        VALUES (%(event_id)s, %(type)s, %(contact)s::uuid,
                CASE WHEN %(contact)s::uuid IS NOT NULL THEN (
                    SELECT COALESCE(MAX(sequence), 0) + 1 FROM {changes}
                    WHERE contact_id = %(contact)s::uuid) END,
                %(data)s, %(now)s, pg_current_xact_id()::text::bigint)
        RETURNING id, contact_id, sequence, txid
    ),
    owed AS (
        INSERT INTO {deliveries} (endpoint_id, change_id, contact_id, sequence, status,
                                  attempts, next_attempt_at, last_error, created_at)
        SELECT e.id, change.id, change.contact_id, change.sequence, %(pending)s, 0,
               %(now)s, '', %(now)s
        FROM change CROSS JOIN {endpoints} e
        WHERE e.enabled AND e.events ? %(type)s
        RETURNING endpoint_id
    )
    SELECT change.id, change.sequence, change.txid, ARRAY(SELECT endpoint_id FROM owed)
    FROM change
    """  # noqa: S608 (table names from the models; values are parameters)


def insert_change_and_deliveries(
    *, event_id: Any, type: str, contact_id: Any, data: Any, now: datetime, pending: str
) -> Callable[[], tuple[int, int | None, int, list[Any]]]:
    """PostgreSQL, under the contact's lock: the change numbered after the contact's last
    one, and a delivery of it to each enabled endpoint that wants its type, in one
    statement. Returns what reads its answer, (id, sequence, txid, the endpoints owed):
    in a pipeline, the statement goes out with the others and is answered with them."""
    cursor = connection.cursor()
    cursor.execute(
        _change_sql(),
        {
            "event_id": event_id,
            "type": type,
            "contact": contact_id,
            "data": data,
            "now": now,
            "pending": pending,
        },
    )

    def answer() -> tuple[int, int | None, int, list[Any]]:
        try:
            return cursor.fetchone()
        finally:
            cursor.close()

    return answer
