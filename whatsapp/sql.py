"""The WhatsApp app's hand-written SQL: each statement named for what it does, tables and
columns named by the models, the database vendor decided here.

Each is on a hot path (sending, the webhook), where a round trip saved is worth the SQL.
"""

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from functools import cache
from typing import Any

import psycopg
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from core.db import concrete_field

from .models import InboundEvent, OutboundMessage, WebhookDelivery
from .parsing import Item

logger = logging.getLogger(__name__)

Status = OutboundMessage.Status

# What a send's answer writes on its message.
OUTCOME_FIELDS = (
    "status",
    "wamid",
    "sent_at",
    "error_code",
    "error_title",
    "skip_reason",
    "result",
    "handler_error",
)

# An answer's record need not wait for the disk; the claim before the call must.
# If the database itself crashed before this commit reached the disk, the row would be
# `sending` again and the sweep would make it `unknown`: shown to staff, never sent
# twice. A lost claim could send twice, so claims keep the synchronous commit.
_ASYNC_COMMIT = "SET LOCAL synchronous_commit TO OFF; "


def _prepared(name: str, value: Any) -> Any:
    return concrete_field(OutboundMessage, name).get_db_prep_value(value, connection)


@cache
def _claim_sql() -> str:
    table = OutboundMessage._meta.db_table
    return (
        f'UPDATE "{table}" SET "status" = %s, "claimed_at" = %s,'  # noqa: S608
        ' "attempts" = "attempts" + 1 WHERE "id" = %s AND "status" = %s'
        # A parked row (a paused campaign, a template not approved) is never claimed.
        """ AND "parked_by" = ''"""
    )


def claim_queued_message(message_id: Any, at: datetime) -> bool:
    """queued → sending at `at`, one more attempt; False when it was no longer queued (or
    is parked)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _claim_sql(),
            [
                Status.SENDING,
                _prepared("claimed_at", at),
                _prepared("id", message_id),
                Status.QUEUED,
            ],
        )
        return cursor.rowcount == 1


@cache
def _outcome_sql() -> str:
    table = OutboundMessage._meta.db_table
    columns = ", ".join(f'"{name}" = %s' for name in OUTCOME_FIELDS)
    return (
        f'UPDATE "{table}" SET {columns} WHERE "id" = %s AND '  # noqa: S608
        '("status" = %s OR ("status" = %s AND "resolution" = \'\'))'
    )


def record_outcome(message_id: Any, answered: dict[str, Any]) -> bool:
    """`answered` (every outcome field) on the message if it is still ours: `sending`, or
    `unknown` and undecided. False when it was not."""
    values = [_prepared(name, answered[name]) for name in OUTCOME_FIELDS]
    pk = OutboundMessage._meta.pk.get_db_prep_value(message_id, connection)
    # Only in a transaction of our own: inside a caller's (a webhook's processing) the
    # commit is the caller's, and stays synchronous.
    asynchronous = connection.vendor == "postgresql" and len(connection.atomic_blocks) == 1
    with connection.cursor() as cursor:
        # One round trip for both statements (Django binds parameters client-side).
        sql = (_ASYNC_COMMIT if asynchronous else "") + _outcome_sql()
        cursor.execute(sql, [*values, pk, Status.SENDING, Status.UNKNOWN])
        if asynchronous:
            cursor.nextset()
        return cursor.rowcount == 1


# --- Storing a webhook delivery (whatsapp.services.store_delivery) -----------------------


def insert_delivery_with_items(body: bytes, items: list[Item]) -> tuple[int, list[int]] | None:
    """PostgreSQL: the raw body and every item (none or many) in one statement; (delivery id,
    new item ids in the delivery's order), or None, with nothing written, when a value is
    refused. A duplicate item (its dedupe key stored already) is skipped.

    None on SQLite too: there the caller keeps the raw body, then stores item by item.
    """
    if connection.vendor != "postgresql":
        return None
    statement = (
        "WITH delivery AS ("  # noqa: S608 (table names from the models; values are parameters)
        f"INSERT INTO {WebhookDelivery._meta.db_table} (body, state, error, received_at) "
        "VALUES (%s, %s, '', %s) RETURNING id), "
        f"item AS (INSERT INTO {InboundEvent._meta.db_table} (kind, dedupe_key, wamid, "
        "payload, body, state, error, attempts, received_at, delivery_id, carries_opt_out, "
        "sender, sender_user_id) "
        "SELECT item.kind, item.dedupe_key, item.wamid, item.payload, '', %s, '', 0, "
        "%s, (SELECT id FROM delivery), false, item.sender, item.sender_user_id "
        "FROM json_to_recordset(%s::json) AS item(kind text, dedupe_key text, wamid text, "
        "payload jsonb, sender text, sender_user_id text) "
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id) "
        "SELECT (SELECT id FROM delivery), id FROM item "
        "UNION ALL SELECT (SELECT id FROM delivery), NULL"
    )
    now = timezone.now()
    params: list[Any] = [
        body,
        WebhookDelivery.State.SPLIT.value,
        now,
        InboundEvent.State.RECEIVED.value,
        now,
        _items_json(items),
    ]
    try:
        # Alone, the statement is its own transaction; inside one, a savepoint keeps a
        # refusal from aborting the caller's.
        inside = transaction.atomic() if connection.in_atomic_block else nullcontext()
        with inside, _server_bound_cursor() as cursor:
            cursor.execute(statement, params)
            rows = cursor.fetchall()
    except DatabaseError:
        logger.warning("a delivery's value was refused; storing its items one by one")
        return None
    # Ids follow the sequence, so sorted they keep the delivery's order.
    return rows[0][0], sorted(pk for _, pk in rows if pk is not None)


@contextmanager
def _server_bound_cursor() -> Iterator[psycopg.Cursor]:
    """A cursor of Django's connection whose values travel apart from the statement.

    Django's cursors quote every value into the SQL text in Python: for the webhook's
    body and item arrays that was the request's largest piece of CPU after the publish.
    Bound by the server, the body goes as it is, and psycopg prepares the statement
    after a few runs. Errors are Django's, as from its own cursor.
    """
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor


def _items_json(items: list[Item]) -> str:
    """The items as one JSON array of rows: one value, not six arrays psycopg would quote item
    by item in Python (what the payloads' quotes cost was a tenth of the request)."""
    return json.dumps(
        [
            {
                "kind": item.kind,
                "dedupe_key": item.dedupe_key[:400],
                "wamid": item.wamid[:256],
                # An empty payload is stored as NULL (JSON null reads as NULL here).
                "payload": item.payload or None,
                "sender": item.sender,
                "sender_user_id": item.sender_user_id[:128],
            }
            for item in items
        ]
    )


# --- Items that may hold a sender's messages (whatsapp.services.settle_inbound_from) -----------


@cache
def _unsettled_sql() -> str:
    # Table names from the models; every value is a parameter. Each branch of the OR
    # has its partial index (models.InboundEvent), so the planner ORs three bitmaps.
    items, deliveries = InboundEvent._meta.db_table, WebhookDelivery._meta.db_table
    return (
        f'SELECT "id", "state" FROM "{items}" '  # noqa: S608
        'WHERE "state" IN (%s, %s) AND ("state" = %s OR "carries_opt_out" = %s) '
        'AND ("sender" = %s OR "sender_user_id" = %s '
        'OR ("kind" = %s AND "sender" LIKE %s ESCAPE \'\\\')) '
        f'UNION ALL SELECT -1, "state" FROM "{deliveries}" WHERE "state" = %s'
    )


def unsettled_rows(recipient: str) -> list[tuple[int, str]]:
    """(id, state) of each unprocessed item that may hold `recipient`'s messages (by either
    id the item named, or an unreadable body naming it); -1 for a delivery not split yet."""
    like = recipient.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    received, failed = str(InboundEvent.State.RECEIVED), str(InboundEvent.State.FAILED)
    params: list[str | bool] = [received, failed, received, True, recipient, recipient]
    params += [str(InboundEvent.Kind.MALFORMED), f"%{like}%", str(WebhookDelivery.State.STORED)]
    with connection.cursor() as cursor:
        cursor.execute(_unsettled_sql(), params)
        return cursor.fetchall()
