"""Reads: the change feed, and what each endpoint was told about a contact."""

from collections.abc import Collection
from typing import Any

from django.db.models import Q, QuerySet

from .feed import Cursor
from .models import Change, Delivery, payload
from .sql import visibility_horizon

MAX_PAGE = 1000


def _after(after: Cursor, types: Collection[str]) -> QuerySet[Change]:
    """The changes after `after` in feed order, below the visibility horizon."""
    # (txid, id) > cursor, with txid >= as the index range's start.
    rows = Change.objects.filter(
        Q(txid__gt=after.txid) | Q(id__gt=after.id),
        txid__gte=after.txid,
        txid__lt=visibility_horizon(),
    )
    if types:
        rows = rows.filter(type__in=list(types))
    return rows.order_by("txid", "id")


def read_changes(
    *, after: Cursor, types: Collection[str] = (), limit: int = 100
) -> tuple[list[Change], Cursor]:
    """The changes after `after` in feed order, and the cursor to read on from.

    Only changes below the visibility horizon are read (`integrations.feed`), so a reader
    following the cursor sees every change exactly once, whatever order writers commit in.
    """
    page = list(_after(after, types)[: max(1, min(limit, MAX_PAGE))])
    return page, (Cursor.of(page[-1]) if page else after)


_FIELDS = ("txid", "id", "event_id", "type", "created_at", "contact_id", "sequence", "data")


def read_feed(
    *, after: Cursor, types: Collection[str] = (), limit: int = 100
) -> tuple[list[dict[str, Any]], Cursor]:
    """`read_changes` as the payloads the API answers, without building model instances.

    Measured (bench/integrations.py, 100,000 changes, load 10 on 2 cores): 2.9 s against
    6.8 s through model instances; a bare range scan took 1.7 s.
    """
    rows = list(_after(after, types).values_list(*_FIELDS)[: max(1, min(limit, MAX_PAGE))])
    payloads = [payload(*row[2:]) for row in rows]
    return payloads, (Cursor(rows[-1][0], rows[-1][1]) if rows else after)


def deliveries_of_contact(contact_id: Any) -> QuerySet[Delivery]:
    """Which endpoint was told about each of the contact's changes, and when (newest first)."""
    return (
        Delivery.objects.filter(change__contact_id=contact_id)
        .select_related("endpoint", "change")
        .order_by("-change__created_at", "endpoint__url")
    )
