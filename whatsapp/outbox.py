"""The only way out: a decision to send writes a queued OutboundMessage row.

Call these inside the transaction that decides: the row commits with the
decision or not at all, and its delivery task is enqueued only after commit
(`whatsapp.delivery` does the sending). An `origin` names the decision
("campaigns.message:42"): queueing the same origin twice adds nothing, and the
origin's "outbound_result" handler hears what became of it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from staff.audit import record_audit

from . import messages
from .addressing import Address
from .delivery import MESSAGE_KINDS, PARKED_UNTIL, tell_origin
from .events import TemplateChanged
from .handlers import on
from .models import OutboundMessage, WhatsAppTemplate
from .tasks import DELIVERY_CHUNK, deliver_outbound
from .template_sends import template_parking_mark

logger = logging.getLogger(__name__)

Status = OutboundMessage.Status
Kind = OutboundMessage.Kind


def deliver_after_commit(ids: Sequence[Any]) -> None:
    """Enqueue delivery of these rows once the current transaction commits."""
    ids = [str(pk) for pk in ids]
    if ids:
        transaction.on_commit(partial(_enqueue_delivery, ids))


def _enqueue_delivery(ids: list[str]) -> None:
    for start in range(0, len(ids), DELIVERY_CHUNK):
        chunk = ids[start : start + DELIVERY_CHUNK]
        try:
            deliver_outbound.delay(chunk)
        except Exception:
            # Stored and committed: the sweep enqueues them again.
            logger.exception("could not enqueue delivery of %s outbound rows", len(chunk))


def new_row(
    *,
    kind: str,
    to: str,
    payload: dict[str, Any],
    contact_id: Any = None,
    reason: str = "",
    origin: str | None = None,
    purpose: str = "",
    notice_refs: Iterable[str] = (),
    fallback_payload: dict[str, Any] | None = None,
    row_id: uuid.UUID | None = None,
) -> OutboundMessage:
    """An unsaved row (for `enqueue_rows`); a message carries its own id back to us."""
    row_id = row_id or uuid.uuid4()
    if kind in MESSAGE_KINDS:
        # Echoed in status webhooks: a status can always be tied to its row.
        payload = {**payload, "biz_opaque_callback_data": str(row_id)}
        if fallback_payload:
            fallback_payload = {**fallback_payload, "biz_opaque_callback_data": str(row_id)}
    backend = settings.WHATSAPP_BACKEND
    return OutboundMessage(
        id=row_id,
        kind=kind,
        to=to[:128],
        payload=payload,
        fallback_payload=fallback_payload,
        contact_id=contact_id,
        reason=reason[:200],
        origin=origin,
        purpose=purpose,
        notice_refs=list(notice_refs),
        backend=backend,
        phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID if backend == "cloud" else "",
    )


def enqueue_row(row: OutboundMessage, *, retry_failed: bool = False) -> OutboundMessage:
    """Save one row and deliver it after commit.

    An origin already queued returns the row that has it (and, with
    `retry_failed`, queues a failed one again).
    """
    if row.origin:
        existing = OutboundMessage.objects.filter(origin=row.origin).first()
        if existing is not None:
            return _again_if_failed(existing) if retry_failed else existing
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        existing = OutboundMessage.objects.filter(origin=row.origin).first() if row.origin else None
        if existing is None:
            raise
        return existing
    deliver_after_commit([row.pk])
    return row


def enqueue_rows(rows: list[OutboundMessage]) -> list[Any]:
    """Save many rows in one INSERT (origins already queued are skipped); deliver after commit.

    Returns the ids of the rows now queued for these origins.
    """
    OutboundMessage.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    ids = [row.pk for row in rows]
    deliver_after_commit(ids)
    return ids


def _again_if_failed(row: OutboundMessage) -> OutboundMessage:
    if row.status == Status.FAILED:
        again = OutboundMessage.objects.filter(pk=row.pk, status=Status.FAILED).update(
            status=Status.QUEUED, next_attempt_at=timezone.now(), error_code=None, error_title=""
        )
        if again:
            row.status = Status.QUEUED
            deliver_after_commit([row.pk])
    return row


# --- Messages --------------------------------------------------------------------------


def enqueue_message(
    *,
    address: Address,
    kind: str,
    payload: dict[str, Any],
    contact_id: Any = None,
    reason: str = "",
    origin: str | None = None,
    purpose: str = "",
    notice_refs: Iterable[str] = (),
    fallback_payload: dict[str, Any] | None = None,
) -> OutboundMessage:
    return enqueue_row(
        new_row(
            kind=kind,
            to=address.value,
            payload=payload,
            contact_id=contact_id,
            reason=reason,
            origin=origin,
            purpose=purpose,
            notice_refs=notice_refs,
            fallback_payload=fallback_payload,
        )
    )


def _free_form(
    address: Address, kind: str, payload: dict[str, Any], fallback: dict[str, Any] | None, **kw
) -> OutboundMessage:
    """Free-form inside the 24-hour window; outside it, the template fallback or a refusal."""
    if fallback is None:
        messages.require_window(address)  # OutsideServiceWindow when it is closed
    elif not messages.in_service_window(address):
        return enqueue_message(address=address, kind=Kind.TEMPLATE, payload=fallback, **kw)
    return enqueue_message(
        address=address, kind=kind, payload=payload, fallback_payload=fallback, **kw
    )


def enqueue_text(
    *,
    address: Address,
    body: str,
    fallback: dict[str, Any] | None = None,
    **kw: Any,
) -> OutboundMessage:
    """A free-form text. Raises OutsideServiceWindow outside the window without a fallback."""
    return _free_form(address, Kind.TEXT, messages.text(address, body), fallback, **kw)


def enqueue_buttons(
    *,
    address: Address,
    body: str,
    buttons: Sequence[tuple[str, str]],
    footer: str = "",
    fallback: dict[str, Any] | None = None,
    **kw: Any,
) -> OutboundMessage:
    payload = messages.buttons(address, body, buttons, footer)
    return _free_form(address, Kind.BUTTONS, payload, fallback, **kw)


def enqueue_template(
    *,
    address: Address,
    name: str,
    language: str,
    body_params: Sequence[str] = (),
    quick_reply_payloads: Sequence[str] = (),
    **kw: Any,
) -> OutboundMessage:
    payload = messages.template(address, name, language, body_params, quick_reply_payloads)
    return enqueue_message(address=address, kind=Kind.TEMPLATE, payload=payload, **kw)


# --- Groups API calls ------------------------------------------------------------------


def join_decision_origin(group_id: str, request_id: str) -> str:
    return f"join_request:{group_id}:{request_id}"[:200]


def enqueue_join_decision(
    *, group_id: str, request_id: str, approve: bool, reason: str = ""
) -> OutboundMessage:
    """Approve or reject one join request (once per request: a failed one is tried again)."""
    kind = Kind.JOIN_APPROVE if approve else Kind.JOIN_REJECT
    row = new_row(
        kind=kind,
        to=group_id,
        payload={"messaging_product": "whatsapp", "join_requests": [request_id]},
        reason=reason,
        origin=join_decision_origin(group_id, request_id),
    )
    return enqueue_row(row, retry_failed=True)


def enqueue_participant_removal(
    *, group_id: str, users: Sequence[str] = (), user_ids: Sequence[str] = (), reason: str = ""
) -> OutboundMessage | None:
    participants = [{"user": u} for u in users] + [{"user_id": u} for u in user_ids]
    if not participants:
        return None
    return enqueue_row(
        new_row(
            kind=Kind.REMOVE_PARTICIPANTS,
            to=group_id,
            payload={"messaging_product": "whatsapp", "participants": participants},
            reason=reason,
        )
    )


def cancel_queued(*, origin_prefix: str, reason: str, exact: bool = False) -> list[str]:
    """Skip the rows of these origins (`exact`: of this one origin) that no worker has taken
    yet; returns their origins.

    For the caller to settle its own records (no result handlers run).
    """
    if not origin_prefix:
        raise ValueError("name the origins to cancel")
    lookup = "origin" if exact else "origin__startswith"
    with transaction.atomic():
        queued = OutboundMessage.objects.filter(
            **{lookup: origin_prefix}, status=Status.QUEUED
        ).select_for_update()
        found = dict(queued.values_list("pk", "origin"))
        OutboundMessage.objects.filter(pk__in=list(found), status=Status.QUEUED).update(
            status=Status.SKIPPED, skip_reason=reason[:32]
        )
    return [origin for origin in found.values() if origin]


# --- Staff decisions on `unknown` rows ----------------------------------------------------


def mark_sent(*, outbound: OutboundMessage, actor: AbstractBaseUser) -> bool:
    """Staff know it arrived (the person answered, the platform's log shows it). Audited."""
    return _resolve(outbound, actor, OutboundMessage.Resolution.MARKED_SENT, Status.ACCEPTED)


def send_again(*, outbound: OutboundMessage, actor: AbstractBaseUser) -> bool:
    """Staff judge it did not arrive: queue the same row again (it may then arrive twice).

    Audited; who decided and when also stay on the row, for the outbox list.
    """
    return _resolve(outbound, actor, OutboundMessage.Resolution.SENT_AGAIN, Status.QUEUED)


_AUDIT_ACTIONS = {
    OutboundMessage.Resolution.MARKED_SENT: "mark_outbound_message_sent",
    OutboundMessage.Resolution.SENT_AGAIN: "send_outbound_message_again",
}


def _resolve(
    outbound: OutboundMessage,
    actor: AbstractBaseUser,
    resolution: OutboundMessage.Resolution,
    to: str,
) -> bool:
    now = timezone.now()
    fields: dict[str, Any] = {
        "status": to,
        "resolution": resolution,
        "resolved_by": actor,
        "resolved_at": now,
    }
    if to == Status.QUEUED:
        fields.update(next_attempt_at=now, claimed_at=None)
    elif to == Status.ACCEPTED:
        fields.update(sent_at=outbound.claimed_at or now)
    with transaction.atomic():
        # Only an undecided unknown row: two staff clicking at once decide once.
        changed = OutboundMessage.objects.filter(
            pk=outbound.pk, status=Status.UNKNOWN, resolution=""
        ).update(**fields)
        if changed != 1:
            return False
        outbound.refresh_from_db()
        record_audit(
            actor=actor,
            action=_AUDIT_ACTIONS[resolution],
            obj=outbound,
            before={"status": Status.UNKNOWN},
            after={"status": to, "resolution": resolution},
        )
        if to == Status.QUEUED:
            deliver_after_commit([outbound.pk])
        else:
            tell_origin(outbound)
    return True


# --- Parked rows: waiting for a person or an event, never claimed meanwhile ----------------


def park_queued(*, origin_prefix: str, by: str, note: str) -> int:
    """Park the queued rows of these origins (a campaign paused): unsent, not failed."""
    if not origin_prefix:
        raise ValueError("name the origins to park")
    by = by[:600]
    # A row a worker holds right now is marked: its template check parks it (`template_sends`).
    OutboundMessage.objects.filter(origin__startswith=origin_prefix, status=Status.SENDING).update(
        parked_by=by
    )
    # Rows a template parked too: they now wait for the same person as the rest.
    return (
        OutboundMessage.objects.filter(origin__startswith=origin_prefix, status=Status.QUEUED)
        .exclude(parked_by=by)
        .update(parked_by=by, next_attempt_at=PARKED_UNTIL, error_title=note[:500])
    )


def unpark(*, origin_prefix: str = "", parked_by: str = "", purpose: str = "") -> list[Any]:
    """Queue parked rows again (all of these origins', or those parked under one mark).

    `purpose`, when given, is what each must now be allowed for (the consent gate asks at
    send). Delivered after commit.
    """
    if not (origin_prefix or parked_by):
        raise ValueError("name the rows to un-park")
    rows = OutboundMessage.objects.filter(status=Status.QUEUED).exclude(parked_by="")
    if origin_prefix:
        rows = rows.filter(origin__startswith=origin_prefix)
    if parked_by:
        rows = rows.filter(parked_by=parked_by)
    ids = list(rows.values_list("pk", flat=True))
    fields: dict[str, Any] = {"parked_by": "", "next_attempt_at": timezone.now(), "error_title": ""}
    if purpose:
        fields["purpose"] = purpose
    OutboundMessage.objects.filter(pk__in=ids, status=Status.QUEUED).update(**fields)
    deliver_after_commit(ids)
    return ids


def move_queued_purpose(*, origin_prefix: str, purpose: str) -> int:
    """The consent the queued rows of these origins need from now on (a template re-categorised)."""
    if not origin_prefix:
        raise ValueError("name the origins to move")
    return (
        OutboundMessage.objects.filter(origin__startswith=origin_prefix, status=Status.QUEUED)
        .exclude(purpose="")
        .update(purpose=purpose)
    )


@on("template_changed")
def unpark_for_approved_template(event: TemplateChanged) -> None:
    """A template approved again: what it parked goes (the consent gate still asks)."""
    before, after = event.changes.get("status", ("", ""))
    if after == WhatsAppTemplate.APPROVED:
        # After commit: the origins' own handlers (a paused campaign) re-park theirs first.
        mark = template_parking_mark(event.name, event.language)
        transaction.on_commit(partial(unpark, parked_by=mark))
