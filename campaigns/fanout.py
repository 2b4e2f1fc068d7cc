"""Fan-out: one queued Message per audience contact, written by the database.

No row travels through Python: each chunk is one `INSERT … SELECT` over the next
`FAN_OUT_CHUNK` audience contacts in id order (keyset), and what comes back is
the range of message ids it queued, cut into send batches by id arithmetic.
"""

from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max, Min

from .models import Campaign, Message, MessageStatus
from .selectors import campaign_audience

# Contacts per INSERT … SELECT: one short transaction each, few round trips.
FAN_OUT_CHUNK = 50_000


def _quoted(name: str) -> str:
    return connection.ops.quote_name(name)


def _insert_columns(campaign: Campaign) -> tuple[list[str], list[Any]]:
    """The columns of a new Message but `contact`, with their values (the model's defaults).

    NULL columns are left out: they are NULL anyway, and an untyped NULL in a SELECT
    list would not cast to a timestamp.
    """
    columns, values = [], []
    for field in Message._meta.concrete_fields:
        if field.primary_key or field.name == "contact":
            continue
        value = campaign.pk if field.name == "campaign" else field.get_default()
        if value is None:
            continue
        columns.append(_quoted(field.column))
        values.append(field.get_db_prep_save(value, connection))
    return columns, values


def queue_messages(*, campaign: Campaign, batch_size: int) -> list[tuple[int, int]]:
    """Queue the campaign's audience; return (first, last) message ids of each send batch.

    Safe to run again: rows are unique per campaign × contact, and a contact's
    message already queued is part of the returned ranges again.
    """
    # Named explicitly: SQLite does not name a subquery's bare column after it.
    audience = campaign_audience(campaign).order_by().annotate(audience_id=F("pk"))
    audience_sql, audience_params = audience.values("audience_id").query.sql_with_params()
    columns, values = _insert_columns(campaign)
    chunk = getattr(settings, "CAMPAIGN_FAN_OUT_CHUNK", FAN_OUT_CHUNK)
    ranges: list[tuple[int, int]] = []
    after = None
    while True:
        with transaction.atomic():
            insert = _insert_chunk_postgres if connection.vendor == "postgresql" else _insert_chunk
            last, picked, inserted, first_id, last_id = insert(
                audience_sql, audience_params, columns, values, after, chunk
            )
            if inserted < picked:
                # Some were queued by an earlier run (or SQLite cannot tell): include them.
                first_id, last_id = _queued_range(campaign, after, last, first_id, last_id)
        if first_id is not None:
            ranges += [
                (start, min(start + batch_size - 1, last_id))
                for start in range(first_id, last_id + 1, batch_size)
            ]
        if picked < chunk:
            return ranges
        after = last


def _insert_sql(columns: list[str], contact: str, source: str) -> str:
    table = _quoted(Message._meta.db_table)
    placeholders = ", ".join(["%s"] * len(columns))
    contact_column = _quoted(Message._meta.get_field("contact").column)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}, {contact_column}) "  # noqa: S608
        f"SELECT {placeholders}, {contact} FROM {source} "
        f"ON CONFLICT DO NOTHING"
    )


def _insert_chunk_postgres(audience_sql, audience_params, columns, values, after, chunk):
    # One statement per chunk: pick the next contacts, insert, and report what it did.
    keyset = "WHERE a.audience_id > %s " if after is not None else ""
    sql = (
        f"WITH picked AS (SELECT a.audience_id AS id FROM ({audience_sql}) a {keyset}"  # noqa: S608
        f"ORDER BY a.audience_id LIMIT %s), "
        f"queued AS ({_insert_sql(columns, 'picked.id', 'picked ORDER BY picked.id')} "
        f"RETURNING id) "
        "SELECT (SELECT id FROM picked ORDER BY id DESC LIMIT 1), (SELECT count(*) FROM picked), "
        "(SELECT count(*) FROM queued), (SELECT min(id) FROM queued), (SELECT max(id) FROM queued)"
    )
    params = [*audience_params, *([after] if after is not None else []), chunk, *values]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _insert_chunk(audience_sql, audience_params, columns, values, after, chunk):
    # SQLite has no INSERT in a WITH: find the chunk's last contact, then insert up to
    # it; the ids queued are then read as a range (SQLite serves tests, not a million).
    keyset = "WHERE a.audience_id > %s " if after is not None else ""
    keyset_params = [after] if after is not None else []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), max(id) FROM (SELECT a.audience_id AS id FROM ({audience_sql}) a "  # noqa: S608
            f"{keyset}ORDER BY a.audience_id LIMIT %s) picked",
            [*audience_params, *keyset_params, chunk],
        )
        picked, last = cursor.fetchone()
        if not picked:
            return None, 0, 0, None, None
        bounded = f"{keyset}{'AND' if keyset else 'WHERE'} a.audience_id <= %s"
        source = f"({audience_sql}) a {bounded} ORDER BY a.audience_id"
        cursor.execute(
            _insert_sql(columns, "a.audience_id", source),
            [*values, *audience_params, *keyset_params, last],
        )
    return last, picked, 0, None, None


def _queued_range(campaign: Campaign, after, last, first_id, last_id) -> tuple[Any, Any]:
    mine = Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED)
    if after is not None:
        mine = mine.filter(contact_id__gt=after)
    found = mine.filter(contact_id__lte=last).aggregate(first=Min("pk"), last=Max("pk"))
    bounds = [b for b in (first_id, last_id, found["first"], found["last"]) if b is not None]
    return (min(bounds), max(bounds)) if bounds else (None, None)
