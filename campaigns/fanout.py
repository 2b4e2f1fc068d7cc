"""Fan-out: one queued Message per audience contact, written by the database.

No row travels through Python: the audience is cut into contact-id ranges of
`CAMPAIGN_FAN_OUT_CHUNK` contacts, each range is one `INSERT … SELECT`, and what comes back
is the range of message ids it queued, cut into send batches by id arithmetic.
"""

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Min

from . import sql
from .models import Campaign, Message, MessageStatus
from .selectors import topic_audience


def queue_messages(*, campaign: Campaign, batch_size: int) -> list[tuple[int, int]]:
    """Queue the campaign's audience; return (first, last) message ids of each send batch.

    Safe to run again: rows are unique per campaign × contact, and a contact's
    message already queued is part of the returned ranges again.
    """
    # Named explicitly: SQLite does not name a subquery's bare column after it.
    audience = topic_audience(campaign).order_by().annotate(audience_id=F("pk"))
    audience_sql, audience_params = audience.values("audience_id").query.sql_with_params()
    columns, values = sql.message_insert_columns(campaign)
    chunk = settings.CAMPAIGN_FAN_OUT_CHUNK
    cuts = sql.audience_chunk_bounds(audience_sql, audience_params, chunk)
    ranges: list[tuple[int, int]] = []
    for low, high in zip([None, *cuts], [*cuts, None], strict=True):
        with transaction.atomic():
            where, bounds = sql.audience_between(low, high)
            source = (audience_sql, audience_params, where, bounds)
            picked, inserted, first_id, last_id = sql.queue_chunk(source, columns, values)
            if first_id is None or inserted < picked:
                # Some were queued by an earlier run (or SQLite cannot tell): include them.
                first_id, last_id = _queued_range(campaign, low, high, first_id, last_id)
        if first_id is not None:
            ranges += [
                (start, min(start + batch_size - 1, last_id))
                for start in range(first_id, last_id + 1, batch_size)
            ]
    return ranges


def _queued_range(campaign: Campaign, low, high, first_id, last_id) -> tuple[Any, Any]:
    mine = Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED)
    if low is not None:
        mine = mine.filter(contact_id__gt=low)
    if high is not None:
        mine = mine.filter(contact_id__lte=high)
    found = mine.aggregate(first=Min("pk"), last=Max("pk"))
    bounds = [b for b in (first_id, last_id, found["first"], found["last"]) if b is not None]
    return (min(bounds), max(bounds)) if bounds else (None, None)
