"""Changes for what a set-based import wrote (PostgreSQL's fast path), in SQL.

The fast path writes contacts and ledger events by INSERT … SELECT and COPY, without
`record_consent` or `Contact.save()`, so no receiver hears each one. Inside the import's
transaction it says when it wrote (`consent_imported`, `at`): every contact it created has
`created_at = at`, every event it wrote `recorded_at = at` and an `import` context. Their
changes are the ones the row path's receivers would have written (a test holds the two
paths equal): `contact.created` first, then `consent.changed` per event in ledger order,
numbered on from the contact's last sequence; `status_before` is the status after the
event before it in the same contact × purpose.

Finding the events reads the ledger once (no index on `recorded_at`): a scan per import,
beside the import's own work.
"""

from datetime import datetime
from functools import partial

from django.db import connection, transaction
from django.utils import timezone

from consent.models import ConsentEvent
from contacts.models import Contact

from .models import Change, ChangeType, Delivery, DeliveryStatus, WebhookEndpoint
from .tasks import enqueue_deliveries


def _sql() -> str:
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


def record_imported_changes(*, at: datetime) -> int:
    """Write the changes (and deliveries) of what the import wrote at `at`; returns how many."""
    if connection.vendor != "postgresql":
        return 0  # SQLite imports by the row path, whose receivers wrote them already
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _sql(),
            {
                "at": at,
                "now": now,
                "created": ChangeType.CONTACT_CREATED.value,
                "consent": ChangeType.CONSENT_CHANGED.value,
            },
        )
        written = cursor.fetchall()
    by_type: dict[str, list[int]] = {}
    for change_id, type_ in written:
        by_type.setdefault(type_, []).append(change_id)
    _owe_in_bulk(by_type, now)
    return len(written)


def _owe_in_bulk(by_type: dict[str, list[int]], now: datetime) -> None:
    owing: list[object] = []
    for endpoint in WebhookEndpoint.objects.filter(enabled=True):
        ids = [i for t in endpoint.events for i in by_type.get(t, [])]
        if not ids:
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {Delivery._meta.db_table} (endpoint_id, change_id, contact_id,
                    sequence, status, attempts, next_attempt_at, last_error, created_at)
                SELECT %(endpoint)s, id, contact_id, sequence, %(pending)s, 0, %(now)s, '',
                       %(now)s
                FROM {Change._meta.db_table} WHERE id = ANY(%(ids)s)
                """,  # noqa: S608 (table names from the models)
                {
                    "endpoint": endpoint.pk,
                    "pending": DeliveryStatus.PENDING.value,
                    "now": now,
                    "ids": ids,
                },
            )
        owing.append(endpoint.pk)
    if owing:
        transaction.on_commit(partial(enqueue_deliveries, owing))
