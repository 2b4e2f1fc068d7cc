"""The WhatsApp app's hand-written SQL: each statement named for what it does, tables and
columns named by the models, the database vendor decided here.

Both statements are on the send path, where a round trip saved is worth the SQL.
"""

from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection

from core.db import concrete_field

from .models import OutboundMessage

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
    )


def claim_queued_message(message_id: Any, at: datetime) -> bool:
    """queued → sending at `at`, one more attempt; False when it was no longer queued."""
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
