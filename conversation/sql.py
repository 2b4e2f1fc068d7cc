"""The conversation's hand-written SQL: each statement named for what it does, tables named
by the models, the database's conversions decided here."""

from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from django.db import connection

from consent.models import ConsentState
from contacts.models import Contact


class GateRow(NamedTuple):
    merged_into: Any
    status: str | None
    expires_at: datetime | None
    paused_until: datetime | None


@cache
def _gate_sql() -> str:
    contacts, states = Contact._meta.db_table, ConsentState._meta.db_table
    return (
        'SELECT c."merged_into_id", s."status", s."expires_at", s."paused_until" '  # noqa: S608
        f'FROM "{contacts}" c LEFT JOIN "{states}" s '
        'ON s."contact_id" = c."id" AND s."purpose" = %s WHERE c."id" = %s'
    )


def consent_gate_row(contact_id: Any, purpose: str) -> GateRow | None:
    """A contact's merge and its state for `purpose`, in one indexed query compiled once;
    None for no such contact. The hot path of every campaign send."""
    with connection.cursor() as cursor:
        cursor.execute(
            _gate_sql(), [purpose, Contact._meta.pk.get_db_prep_value(contact_id, connection)]
        )
        row = cursor.fetchone()
    if row is None:
        return None
    merged_into, status, expires_at, paused_until = row
    return GateRow(merged_into, status, _datetime(expires_at), _datetime(paused_until))


def _datetime(value: Any) -> datetime | None:
    # SQLite hands back text; PostgreSQL aware datetimes.
    convert = getattr(connection.ops, "convert_datetimefield_value", None)
    return convert(value, None, connection) if convert and value is not None else value
