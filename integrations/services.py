"""Writes: changes and the deliveries they owe, endpoints, resend and replay."""

from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Max

from contacts.models import Contact

from .feed import CurrentTransaction
from .models import (
    Change,
    Delivery,
    WebhookEndpoint,
)
from .tasks import enqueue_deliveries

ROTATION_OVERLAP = timedelta(hours=24)


class InvalidEndpoint(ValueError):
    def __init__(self, message: str, *, code: str, field: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


def record_change(*, type: str, contact_id: Any = None, data: dict[str, Any]) -> Change:
    """Write one change, and a delivery for each enabled endpoint that wants it.

    Call it inside the transaction of what caused it: a rolled-back cause leaves no change,
    a committed one always has its change.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_change belongs inside the transaction of the change")
    sequence = None
    if contact_id is not None:
        # The contact's lock serialises its sequence (record_consent holds it already).
        Contact.objects.select_for_update().filter(pk=contact_id).values_list("pk").first()
        last = Change.objects.filter(contact_id=contact_id).aggregate(last=Max("sequence"))
        sequence = (last["last"] or 0) + 1
    change = Change.objects.create(
        type=type, contact_id=contact_id, sequence=sequence, data=data, txid=CurrentTransaction()
    )
    owe(change, endpoints=subscribed_endpoints(type))
    return change


def subscribed_endpoints(type: str) -> list[WebhookEndpoint]:
    # Few endpoints: their lists of types are matched here, alike on SQLite and PostgreSQL.
    return [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(enabled=True).only("id", "events")
        if type in endpoint.events
    ]


def owe(change: Change, *, endpoints: Iterable[WebhookEndpoint]) -> list[Delivery]:
    owed = Delivery.objects.bulk_create(
        [
            Delivery(
                endpoint=endpoint,
                change=change,
                contact_id=change.contact_id,
                sequence=change.sequence,
            )
            for endpoint in endpoints
        ]
    )
    if owed:
        transaction.on_commit(partial(enqueue_deliveries, [d.pk for d in owed]))
    return owed
