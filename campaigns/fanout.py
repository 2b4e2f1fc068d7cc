"""Fan-out: one queued Message per audience contact, written by the database.

No row travels through Python: the audience is cut into contact-id ranges of
`CAMPAIGN_FAN_OUT_CHUNK` contacts, each range is one `INSERT … SELECT`, and what comes back
is the range of message ids it queued, cut into send batches by id arithmetic.
"""

from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max, Min

from .models import Campaign, Message, MessageStatus
from .selectors import campaign_audience


def _quoted(name: str) -> str:
    return connection.ops.quote_name(name)


def _insert_columns(campaign: Campaign) -> tuple[list[str], list[Any]]:
    """The columns of a new Message but `contact`, with their values (the model's defaults).

    NULL columns are left out: they are NULL anyway, and an untyped NULL in a SELECT
    list would not cast to a timestamp.
    """
    columns: list[str] = []
    values: list[Any] = []
    for field in Message._meta.concrete_fields:
        # A concrete field always has its column (the stubs allow None before set-up).
        if field.primary_key or field.name == "contact" or field.column is None:
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
    chunk = settings.CAMPAIGN_FAN_OUT_CHUNK
    cuts = _chunk_bounds(audience_sql, audience_params, chunk)
    ranges: list[tuple[int, int]] = []
    for low, high in zip([None, *cuts], [*cuts, None], strict=True):
        with transaction.atomic():
            where, bounds = _between(low, high)
            source = (audience_sql, audience_params, where, bounds)
            if connection.vendor == "postgresql":
                picked, inserted, first_id, last_id = _insert_chunk_postgres(
                    source, columns, values
                )
            else:
                picked, inserted, first_id, last_id = _insert_chunk(source, columns, values)
            if first_id is None or inserted < picked:
                # Some were queued by an earlier run (or SQLite cannot tell): include them.
                first_id, last_id = _queued_range(campaign, low, high, first_id, last_id)
        if first_id is not None:
            ranges += [
                (start, min(start + batch_size - 1, last_id))
                for start in range(first_id, last_id + 1, batch_size)
            ]
    return ranges


def _chunk_bounds(audience_sql: str, audience_params, chunk: int) -> list[Any]:
    """Every `chunk`-th audience contact id: the chunks are the id ranges between them.

    One scan and sort of the ids. Each chunk then reads its id range in table order;
    picking the next `chunk` ids by the primary key instead visits the rows in id
    order, one random page each (measured: 3× the time of the insert's own read).
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(
            f"SELECT audience_id FROM (SELECT a.audience_id, "  # noqa: S608
            f"row_number() OVER (ORDER BY a.audience_id) AS n FROM ({audience_sql}) a) ranked "
            f"WHERE n %% %s = 0 ORDER BY audience_id",
            [*audience_params, chunk],
        )
        return [row[0] for row in cursor.fetchall()]


def _between(low, high) -> tuple[str, list]:
    conditions, params = [], []
    if low is not None:
        conditions.append("a.audience_id > %s")
        params.append(low)
    if high is not None:
        conditions.append("a.audience_id <= %s")
        params.append(high)
    return (f"WHERE {' AND '.join(conditions)}" if conditions else "WHERE 1 = 1"), params


def _insert_sql(columns: list[str], contact: str, source: str) -> str:
    table = _quoted(Message._meta.db_table)
    placeholders = ", ".join(["%s"] * len(columns))
    contact_column = _quoted(Message._meta.get_field("contact").column)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}, {contact_column}) "  # noqa: S608
        f"SELECT {placeholders}, {contact} FROM {source} "
        f"ON CONFLICT DO NOTHING"
    )


def _insert_chunk_postgres(source, columns, values):
    # One statement per chunk: insert in contact order (the unique (campaign, contact)
    # index is then written in order) and report what it did.
    audience_sql, audience_params, where, bounds = source
    sql = (
        f"WITH picked AS (SELECT a.audience_id AS id FROM ({audience_sql}) a {where}), "  # noqa: S608
        f"queued AS ({_insert_sql(columns, 'picked.id', 'picked ORDER BY picked.id')} "
        f"RETURNING id) "
        "SELECT (SELECT count(*) FROM picked), (SELECT count(*) FROM queued), "
        "(SELECT min(id) FROM queued), (SELECT max(id) FROM queued)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*audience_params, *bounds, *values])
        return cursor.fetchone()


def _insert_chunk(source, columns, values):
    # SQLite has no INSERT in a WITH: insert, then the ids queued are read as a range
    # (SQLite serves tests and small set-ups, not a million).
    audience_sql, audience_params, where, bounds = source
    with connection.cursor() as cursor:
        cursor.execute(
            _insert_sql(
                columns, "a.audience_id", f"({audience_sql}) a {where} ORDER BY a.audience_id"
            ),
            [*values, *audience_params, *bounds],
        )
    return 0, 0, None, None


def _queued_range(campaign: Campaign, low, high, first_id, last_id) -> tuple[Any, Any]:
    mine = Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED)
    if low is not None:
        mine = mine.filter(contact_id__gt=low)
    if high is not None:
        mine = mine.filter(contact_id__lte=high)
    found = mine.aggregate(first=Min("pk"), last=Max("pk"))
    bounds = [b for b in (first_id, last_id, found["first"], found["last"]) if b is not None]
    return (min(bounds), max(bounds)) if bounds else (None, None)
