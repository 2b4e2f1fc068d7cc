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

from . import sql
from .models import ChangeType, DeliveryStatus, WebhookEndpoint
from .tasks import enqueue_deliveries


def record_imported_changes(*, at: datetime) -> int:
    """Write the changes (and deliveries) of what the import wrote at `at`; returns how many."""
    if connection.vendor != "postgresql":
        return 0  # SQLite imports by the row path, whose receivers wrote them already
    now = timezone.now()
    written = sql.insert_imported_changes(
        at=at,
        now=now,
        created=ChangeType.CONTACT_CREATED.value,
        consent=ChangeType.CONSENT_CHANGED.value,
    )
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
        sql.insert_deliveries(
            endpoint_id=endpoint.pk,
            change_ids=ids,
            pending=DeliveryStatus.PENDING.value,
            now=now,
        )
        owing.append(endpoint.pk)
    if owing:
        transaction.on_commit(partial(enqueue_deliveries, owing))
