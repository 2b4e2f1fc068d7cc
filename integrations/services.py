"""Writes: changes and the deliveries they owe, endpoints, resend and replay."""

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from contacts.models import Contact
from staff.audit import record_audit

from . import sql
from .addresses import UnsafeAddress, check_endpoint_url  # noqa: F401  (the admin form checks too)
from .export import person_export
from .feed import CurrentTransaction
from .models import Change, ChangeType, Delivery, DeliveryStatus, WebhookEndpoint, new_secret
from .tasks import enqueue_deliveries, enqueue_deliveries_soon

ROTATION_OVERLAP = timedelta(hours=24)


class InvalidEndpoint(ValueError):
    def __init__(self, message: str, *, code: str, field: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


def record_change(
    *, type: str, contact_id: Any = None, data: dict[str, Any], contact_locked: bool = False
) -> Change:
    """Write one change, and a delivery for each enabled endpoint that wants it.

    Call it inside the transaction of what caused it: a rolled-back cause leaves no change,
    a committed one always has its change. `contact_locked`: the caller holds the contact's
    row lock already (record_consent does), which serialises the contact's sequence.
    """
    _lock_for_sequence(contact_id, contact_locked)
    if connection.vendor == "postgresql":
        change, answer = _write_change(type, contact_id, data)
        change.pk, change.sequence, change.txid, owed = answer()
        if owed:
            transaction.on_commit(partial(enqueue_deliveries_soon, owed))
        return change
    sequence = None
    if contact_id is not None:
        last = Change.objects.filter(contact_id=contact_id).aggregate(last=Max("sequence"))
        sequence = (last["last"] or 0) + 1
    change = Change.objects.create(
        type=type, contact_id=contact_id, sequence=sequence, data=data, txid=CurrentTransaction()
    )
    owe(change, endpoints=subscribed_endpoints(type))
    return change


def record_change_unread(
    *, type: str, contact_id: Any = None, data: dict[str, Any], contact_locked: bool = False
) -> None:
    """`record_change`, its row not read back: on PostgreSQL its statement goes out with
    the ones around it (record_consent's pipeline), and the endpoints it owed deliveries
    are read after the commit, to send them their task."""
    if connection.vendor != "postgresql":
        record_change(type=type, contact_id=contact_id, data=data, contact_locked=contact_locked)
        return
    _lock_for_sequence(contact_id, contact_locked)
    _, answer = _write_change(type, contact_id, data)
    transaction.on_commit(lambda: enqueue_deliveries_soon(answer()[3]))


def _lock_for_sequence(contact_id: Any, contact_locked: bool) -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_change belongs inside the transaction of the change")
    if contact_id is not None and not contact_locked:
        Contact.objects.select_for_update().filter(pk=contact_id).values_list("pk").first()


def _write_change(
    type: str, contact_id: Any, data: dict[str, Any]
) -> tuple[Change, Callable[[], tuple[int, int | None, int, list[Any]]]]:
    """PostgreSQL: the change, its sequence and its deliveries in one statement (measured
    by bench/integrations.py: an endpoint no longer costs a consent a statement)."""
    change = Change(type=type, contact_id=contact_id, data=data)
    answer = sql.insert_change_and_deliveries(
        event_id=change.event_id,
        type=type,
        contact_id=contact_id,
        data=Change._meta.get_field("data").get_db_prep_save(data, connection),
        now=change.created_at,
        pending=DeliveryStatus.PENDING,
    )
    change._state.adding = False
    change._state.db = connection.alias
    return change, answer


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
        transaction.on_commit(partial(enqueue_deliveries_soon, [d.endpoint_id for d in owed]))
    return owed


def _clean_events(events: Iterable[str]) -> list[str]:
    events = list(dict.fromkeys(events))
    unknown = [e for e in events if e not in ChangeType.values]
    if not events or unknown:
        raise InvalidEndpoint(
            f"events must be some of {', '.join(ChangeType.values)}",
            code="unknown_event_type" if unknown else "required",
            field="events",
        )
    return events


def _clean_url(url: str) -> str:
    try:
        check_endpoint_url(url)
    except UnsafeAddress as refused:
        raise InvalidEndpoint(str(refused), code="url_not_allowed", field="url") from None
    return url


@transaction.atomic
def register_endpoint(
    *, url: str, events: Iterable[str], description: str = "", actor: Any = None
) -> WebhookEndpoint:
    """A new endpoint; its secret is on the returned object, and shown only this once."""
    endpoint = WebhookEndpoint.objects.create(
        url=_clean_url(url), events=_clean_events(events), description=description
    )
    record_audit(
        actor=actor, action="register_webhook_endpoint", obj=endpoint, after=_shown(endpoint)
    )
    return endpoint


@transaction.atomic
def change_endpoint(
    *,
    endpoint: WebhookEndpoint,
    events: Iterable[str] | None = None,
    enabled: bool | None = None,
    actor: Any = None,
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    before = _shown(endpoint)
    if events is not None:
        endpoint.events = _clean_events(events)
    resumed = enabled is True and not endpoint.enabled
    if enabled is not None:
        endpoint.enabled = enabled
        if enabled:
            endpoint.disabled_reason = ""
            endpoint.failing_since = None
    endpoint.save()
    record_audit(
        actor=actor,
        action="change_webhook_endpoint",
        obj=endpoint,
        before=before,
        after=_shown(endpoint),
    )
    if resumed:
        # What it was owed while disabled goes now, in order.
        owed = Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING)
        Delivery.objects.filter(pk__in=owed.values("pk")).update(
            next_attempt_at=timezone.now(), claimed_until=None
        )
        transaction.on_commit(partial(enqueue_deliveries, [endpoint.pk]))
    return endpoint


@transaction.atomic
def rotate_secret(*, endpoint: WebhookEndpoint, actor: Any = None) -> WebhookEndpoint:
    """A new secret; the old one still signs, beside it, for ROTATION_OVERLAP."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + ROTATION_OVERLAP
    endpoint.secret = new_secret()
    endpoint.save()
    record_audit(
        actor=actor,
        action="rotate_webhook_secret",
        obj=endpoint,
        after={"previous_secret_expires_at": endpoint.previous_secret_expires_at.isoformat()},
    )
    return endpoint


@transaction.atomic
def remove_endpoint(*, endpoint: WebhookEndpoint, actor: Any = None) -> None:
    record_audit(
        actor=actor, action="remove_webhook_endpoint", obj=endpoint, before=_shown(endpoint)
    )
    endpoint.delete()


def _shown(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {"url": endpoint.url, "events": endpoint.events, "enabled": endpoint.enabled}


@transaction.atomic
def resend(*, deliveries: Iterable[Delivery], actor: Any = None) -> int:
    """Deliver these again (a receiver dedupes by the event id); returns how many."""
    ids = [d.pk for d in deliveries]
    count = Delivery.objects.filter(pk__in=ids).update(
        status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(), claimed_until=None
    )
    endpoints = set()
    for delivery in Delivery.objects.filter(pk__in=ids):
        record_audit(actor=actor, action="resend_webhook", obj=delivery)
        endpoints.add(delivery.endpoint_id)
    transaction.on_commit(partial(enqueue_deliveries, endpoints))
    return count


@transaction.atomic
def replay(*, endpoint: WebhookEndpoint, since: datetime, actor: Any = None) -> int:
    """Every change since `since` that the endpoint wants, owed to it again, in order.

    Changes from before it was registered are owed too (catching up after an outage
    or a new integration's first fill); returns how many deliveries are owed.
    """
    changes = Change.objects.filter(created_at__gte=since, type__in=endpoint.events)
    already = Delivery.objects.filter(endpoint=endpoint, change__in=changes)
    already.update(
        status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(), claimed_until=None
    )
    Delivery.objects.bulk_create(
        [
            Delivery(
                endpoint=endpoint,
                change=change,
                contact_id=change.contact_id,
                sequence=change.sequence,
            )
            for change in changes.exclude(deliveries__endpoint=endpoint).order_by("id")
        ]
    )
    owed = list(
        Delivery.objects.filter(endpoint=endpoint, change__in=changes).values_list("pk", flat=True)
    )
    record_audit(
        actor=actor,
        action="replay_webhooks",
        obj=endpoint,
        after={"since": since.isoformat(), "deliveries": len(owed)},
    )
    transaction.on_commit(partial(enqueue_deliveries, [endpoint.pk]))
    return len(owed)


@transaction.atomic
def export_person(*, contact: Contact, actor: Any, with_evidence: bool) -> dict[str, Any]:
    """A person's own copy; every request is audited. Without `with_evidence` the personal
    evidence and the proof bundle are withheld (the API's `consent:evidence` rule)."""
    copy = person_export(contact)
    if not with_evidence:
        for event in copy["consent"]["events"]:
            event["evidence"] = None
        copy["proof"] = None
        copy["evidence_withheld"] = True
    record_audit(actor=actor, action="export_person_data", obj=contact)
    return copy
