"""Delivering the outbox: claim a row, check it may still go, call the Graph API, record.

Every step that touches the network runs outside any transaction. A row moves
queued → sending by a conditional UPDATE (so two workers never take it), and
out of `sending` only with the answer:

- accepted: the platform took it (wamid kept);
- failed: a permanent error (its code kept); 131050 also tells "send_failed"
  handlers, so the opt-out is recorded once, by consent;
- skipped: a registered send gate refused it just before sending (consent withdrawn,
  or withdrawn since a message asking for it was queued; an invitation no longer
  accepted);
- held (queued again, WHATSAPP_HOLD_WAIT seconds later): something its recipient sent
  us is stored, not processed yet, and could not be processed now
  (`services.settle_inbound_from`);
- queued again: a rate limit, a 5xx or a connection that could not be made
  (nothing was accepted), with the time before the next attempt; 131049 waits
  24 hours; 131047 switches to the row's template fallback when it has one;
- unknown: the request left and no answer came (a read timeout, a dropped
  connection, a worker that died mid-call). Never sent again automatically.

Each outcome is handed to "outbound_result" handlers (campaigns, groups) in the
same transaction as the row's own update.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from . import exceptions as exc
from . import sql, throttle
from .client import ConsoleGraph, graph_client
from .events import OutboundResult
from .handlers import dispatch, dispatch_send_failure
from .models import OutboundMessage
from .routing import MARKETING_MESSAGES, marketing_message, routes_to_marketing_messages
from .services import process_stragglers, settle_inbound_from
from .template_sends import check_template

logger = logging.getLogger(__name__)

Status = OutboundMessage.Status
Kind = OutboundMessage.Kind
MESSAGE_KINDS = (Kind.TEXT, Kind.BUTTONS, Kind.TEMPLATE)

# Celery's ETA fires at or after the countdown; a row is claimable this much early.
CLOCK_SLACK = timedelta(seconds=2)
MARKETING_LIMIT_WAIT = timedelta(hours=24)
# Longer waits are left to the sweep: the broker may redeliver far-future tasks.
MAX_COUNTDOWN = 15 * 60


# --- Send gates -----------------------------------------------------------------------
# A gate answers, just before a claimed row goes out, whether it still may: None, or
# the refusal reason. Registered by the apps that decide (consent for consent, groups
# for their invitations), so `whatsapp` imports none. A gate reads what the row
# carries (contact, purpose, the notices it shows, origin, when it was queued), passes
# over the rows that are not its own without a query, and looks one thing up for those
# that are.

SendGate = Callable[[OutboundMessage], str | None]
_gates: list[SendGate] = []


def send_gate(gate: SendGate) -> SendGate:
    name = f"{gate.__module__}.{gate.__qualname__}"
    if name not in {f"{g.__module__}.{g.__qualname__}" for g in _gates}:
        _gates.append(gate)
    return gate


def _refusal(row: OutboundMessage) -> str | None:
    for gate in _gates:
        reason = gate(row)
        if reason:
            return reason
    return None


# --- Delivering a batch of rows --------------------------------------------------------


@dataclass
class Outcome:
    """What a delivery run did, and what its task should do next.

    `remaining` rows wait `wait` seconds: the bucket was empty (`error` None) or
    the platform asked us to slow down (`error` set).
    """

    delivered: int = 0
    remaining: list[str] = field(default_factory=list)
    wait: float = 0.0
    error: exc.WhatsAppError | None = None
    # What became of the rows settled in this run, for "outbound_settled" handlers.
    settled: list[OutboundResult] = field(default_factory=list)
    # Rows held back (queued again a while later) by what their recipient sent us.
    held: list[str] = field(default_factory=list)


def client_for(backend: str):
    return ConsoleGraph() if backend == "console" else graph_client()


def deliver(ids: Sequence[Any]) -> Outcome:
    """Deliver these outbox rows in order; rows no longer queued are passed over."""
    ids = [str(pk) for pk in ids]
    now = timezone.now()
    rows = {
        str(row.pk): row
        for row in OutboundMessage.objects.filter(
            pk__in=ids, status=Status.QUEUED, next_attempt_at__lte=now + CLOCK_SLACK
        )
    }
    outcome = Outcome()
    # Tokens taken from each sending number's bucket and not used yet.
    tokens: dict[str, int] = {}
    try:
        for index, pk in enumerate(ids):
            row = rows.get(pk)
            if row is None:
                continue
            client = client_for(row.backend)
            if client.backend == "cloud":
                if not tokens.get(row.phone_number_id):
                    grant = throttle.take(row.phone_number_id, wanted=len(ids) - index)
                    if not grant.tokens:
                        outcome.remaining, outcome.wait = ids[index:], grant.wait
                        return outcome
                    tokens[row.phone_number_id] = grant.tokens
                tokens[row.phone_number_id] -= 1
            if not _claim(row):
                continue
            if _held(row):
                outcome.held.append(pk)
                continue
            retry = _deliver_claimed(row, client)
            if row.status != Status.QUEUED and row.origin:
                outcome.settled.append(result_of(row))
            if retry is not None:
                outcome.remaining, outcome.error = ids[index:], retry
                outcome.wait = asked_wait(retry).total_seconds()
                return outcome
            outcome.delivered += 1
        return outcome
    finally:
        tell_origins_settled(outcome.settled)


def tell_origins_settled(results: list[OutboundResult]) -> None:
    """Once per run, not per row: e.g. a campaign's status follows its messages from here.

    A failure is only logged: the periodic sweeps of the origins catch up.
    """
    if not results:
        return
    try:
        dispatch("outbound_settled", results)
    except Exception:
        logger.exception("outbound_settled handlers failed for %s rows", len(results))


def asked_wait(error: exc.WhatsAppError) -> timedelta:
    """The wait the platform asked for with this error (its Retry-After); none when it named
    none, and the task's backoff (Celery's `retry_backoff`) decides when the row goes again."""
    return timedelta(seconds=float(getattr(error, "retry_after", None) or 0))


def _claim(row: OutboundMessage) -> bool:
    """queued → sending, committed before the call (one statement: this is the hot path)."""
    now = timezone.now()
    claimed = sql.claim_queued_message(row.pk, now)
    row.status, row.claimed_at, row.attempts = Status.SENDING, now, row.attempts + 1
    return claimed


def _deliver_claimed(row: OutboundMessage, client) -> exc.WhatsAppError | None:
    """Send one claimed row and record the outcome; returns a transient error to retry."""
    try:
        verdict = check_template(row)
    except Exception:
        _requeue(row, at=timezone.now())
        raise
    if verdict.park_by:
        park(row, by=verdict.park_by, note=verdict.reason)
        return None
    if verdict.hold:
        _hold(row, note=verdict.reason)
        return None
    try:
        reason = _refusal(row)
    except Exception:
        # Nothing left: give it back, and let the task fail and retry.
        _requeue(row, at=timezone.now())
        raise
    if reason:
        _settle(row, Status.SKIPPED, skip_reason=reason[:32])
        return None
    try:
        answer = _call(row, client, category=verdict.category)
    except exc.OutsideServiceWindow as error:
        if row.fallback_payload and row.payload != row.fallback_payload:
            # The window closed since we queued it: the approved template instead.
            row.kind, row.payload = Kind.TEMPLATE, row.fallback_payload
            OutboundMessage.objects.filter(pk=row.pk).update(kind=row.kind, payload=row.payload)
            return _deliver_claimed(row, client)
        _settle(row, Status.FAILED, **_error_fields(error))
    except (exc.RateLimited, exc.TemporaryFailure) as error:
        if row.attempts >= settings.WHATSAPP_MAX_ATTEMPTS:
            title = f"gave up after {row.attempts} attempts: {error.title or error}"
            _settle(row, Status.FAILED, error_code=error.code, error_title=title[:500])
            return None
        _requeue(row, at=timezone.now() + asked_wait(error))
        _note_error(row, error)
        return error
    except exc.MarketingLimitReached as error:
        _requeue(row, at=timezone.now() + MARKETING_LIMIT_WAIT)
        _note_error(row, error)
    except exc.OutcomeUnknown as error:
        logger.warning("outbound %s: outcome unknown (%s)", row.pk, error)
        _settle(row, Status.UNKNOWN, **_error_fields(error))
    except exc.WhatsAppError as error:
        _settle(row, Status.FAILED, **_error_fields(error))
        if isinstance(error, exc.RecipientStoppedMarketing):
            _tell_send_failed(row, error)
    else:
        _settle(row, **answer)
    return None


def _held(row: OutboundMessage) -> bool:
    """True when the claimed row must wait: something its recipient sent is unprocessed.

    Every message to a person, with a purpose or not: a STOP stored and answered
    while its processing task was lost (broker down, worker killed) is processed here
    first and then wins at the send gate; one that cannot be processed now holds the
    message, queued again WHATSAPP_HOLD_WAIT seconds later (not an attempt: the claim is
    given back).
    """
    if row.kind not in MESSAGE_KINDS:
        return False
    try:
        settled = settle_inbound_from(recipient=row.to)
    except Exception:
        _requeue(row, at=timezone.now())
        raise
    if settled:
        return False
    logger.warning("outbound %s held: unprocessed inbound items from its recipient", row.pk)
    _hold(row, note=HELD)
    return True


HELD = "held: something this person sent is not processed yet"
# A parked row waits for a person or an event (a campaign resumed, a template approved):
# no time of its own.
PARKED_UNTIL = datetime(9999, 12, 31, tzinfo=UTC)


def _hold(row: OutboundMessage, *, note: str) -> None:
    """Give the claim back: queued again WHATSAPP_HOLD_WAIT seconds later, not an attempt."""
    at = timezone.now() + timedelta(seconds=settings.WHATSAPP_HOLD_WAIT)
    OutboundMessage.objects.filter(pk=row.pk, status=Status.SENDING).update(
        status=Status.QUEUED,
        claimed_at=None,
        next_attempt_at=at,
        attempts=F("attempts") - 1,
        error_title=note[:500],
    )
    row.status, row.next_attempt_at, row.attempts = Status.QUEUED, at, row.attempts - 1


def park(row: OutboundMessage, *, by: str, note: str) -> None:
    """A claimed row waits, unsent and not failed, until `unpark` names `by` (not an attempt)."""
    logger.info("outbound %s parked by %s", row.pk, by)
    OutboundMessage.objects.filter(pk=row.pk, status=Status.SENDING).update(
        status=Status.QUEUED,
        claimed_at=None,
        next_attempt_at=PARKED_UNTIL,
        parked_by=by,
        attempts=F("attempts") - 1,
        error_title=note[:500],
    )
    row.status, row.parked_by, row.attempts = Status.QUEUED, by, row.attempts - 1


def _call(row: OutboundMessage, client, *, category: str = "") -> dict[str, Any]:
    """The Graph API call for this row; returns the fields to settle it with."""
    now = timezone.now()
    if row.kind in MESSAGE_KINDS and routes_to_marketing_messages(row, category=category):
        wamid = client.send_message(
            marketing_message(row.payload),
            phone_number_id=row.phone_number_id,
            edge=MARKETING_MESSAGES,
        )
        return {"status": Status.ACCEPTED, "wamid": wamid, "sent_at": now}
    if row.kind in MESSAGE_KINDS:
        wamid = client.send_message(row.payload, phone_number_id=row.phone_number_id)
        return {"status": Status.ACCEPTED, "wamid": wamid, "sent_at": now}
    if row.kind in (Kind.JOIN_APPROVE, Kind.JOIN_REJECT):
        answer = client.answer_join_requests(
            row.to, row.payload.get("join_requests", []), approve=row.kind == Kind.JOIN_APPROVE
        )
        if answer.failed:
            request_id, code, title = answer.failed[0]
            return {
                "status": Status.FAILED,
                "result": answer.body,
                "error_code": code,
                "error_title": f"join request {request_id}: {title}"[:500],
            }
        return {"status": Status.ACCEPTED, "result": answer.body, "sent_at": now}
    if row.kind == Kind.REMOVE_PARTICIPANTS:
        body = client.remove_participants(row.to, row.payload.get("participants", []))
        return {"status": Status.ACCEPTED, "result": body, "sent_at": now}
    raise exc.InvalidMessage(f"no Graph API call for kind {row.kind!r}")


def _error_fields(error: exc.WhatsAppError) -> dict[str, Any]:
    code = error.code if isinstance(error.code, int) else None
    return {"error_code": code, "error_title": str(error.title or error.detail or error)[:500]}


def _note_error(row: OutboundMessage, error: exc.WhatsAppError) -> None:
    OutboundMessage.objects.filter(pk=row.pk).update(**_error_fields(error))


def _requeue(row: OutboundMessage, *, at: datetime) -> None:
    OutboundMessage.objects.filter(pk=row.pk, status=Status.SENDING).update(
        status=Status.QUEUED, claimed_at=None, next_attempt_at=at
    )
    row.status = Status.QUEUED


# --- Recording an outcome ----------------------------------------------------------------


class _HandlersFailed(Exception):
    pass


def _settle(row: OutboundMessage, status: str, **fields: Any) -> bool:
    """Record the answer and tell the row's origin, in one transaction.

    A late answer still beats `unknown` (the sweep may have given up on a slow
    call), unless staff decided already. If a handler of the origin fails, the
    answer is recorded on its own, with the handler's error for the sweep.
    """
    try:
        with transaction.atomic():
            if not _record(row, status, fields):
                return False
            if row.origin:
                try:
                    dispatch("outbound_result", result_of(row))
                except Exception as error:
                    raise _HandlersFailed(error) from error
        return True
    except _HandlersFailed as failed:
        logger.exception("outbound_result handlers failed for %s", row.pk)
        with transaction.atomic():
            return _record(row, status, {**fields, "handler_error": _describe(failed)})


# The columns an answer writes, in one statement (the hot path of every send).
def _record(row: OutboundMessage, status: str, fields: dict[str, Any]) -> bool:
    """The answer on the row, if it is still ours: `sending`, or `unknown` and undecided.

    Call it inside the transaction that also tells the origin.
    """
    answered = {**{name: getattr(row, name) for name in sql.OUTCOME_FIELDS}, **fields}
    answered["status"] = status
    if not sql.record_outcome(row.pk, answered):
        return False
    for name, value in answered.items():
        setattr(row, name, value)
    return True


def result_of(row: OutboundMessage) -> OutboundResult:
    return OutboundResult(
        outbound_id=row.pk,
        origin=row.origin or "",
        status=row.status,
        contact_id=row.contact_id,
        wamid=row.wamid or "",
        error_code=row.error_code,
        error_title=row.error_title,
        skip_reason=row.skip_reason,
        result=row.result,
    )


def tell_origin(row: OutboundMessage) -> None:
    """Run "outbound_result" handlers in a savepoint: their failure never loses the outcome."""
    if not row.origin:
        return
    try:
        with transaction.atomic():
            dispatch("outbound_result", result_of(row))
    except Exception as error:
        logger.exception("outbound_result handlers failed for %s", row.pk)
        # The sweep runs them again.
        OutboundMessage.objects.filter(pk=row.pk).update(handler_error=_describe(error))
    else:
        if row.handler_error:
            OutboundMessage.objects.filter(pk=row.pk).update(handler_error="")
        transaction.on_commit(partial(tell_origins_settled, [result_of(row)]))


def _tell_send_failed(row: OutboundMessage, error: exc.WhatsAppError) -> None:
    try:
        with transaction.atomic():
            dispatch_send_failure(row, error)
    except Exception:
        logger.exception("send_failed handlers failed for %s", row.pk)


def _describe(error: Exception) -> str:
    frames = traceback.format_exception(type(error), error, error.__traceback__, limit=-3)
    return "".join(frames)[-4000:]


def settle_from_evidence(*, outbound_id: str, wamid: str) -> bool:
    """A status webhook names an `unknown` row (by the id the message carried): it went.

    Staff's decision, if any, stands; a row already settled is left alone.
    """
    try:
        outbound_id = str(uuid.UUID(outbound_id))
    except ValueError:
        return False
    row = OutboundMessage.objects.filter(
        pk=outbound_id, status=Status.UNKNOWN, resolution=""
    ).first()
    if row is None or not _settle(row, Status.ACCEPTED, wamid=wamid, sent_at=timezone.now()):
        return False
    transaction.on_commit(partial(tell_origins_settled, [result_of(row)]))
    return True


# --- Recovery ------------------------------------------------------------------------------


@dataclass
class Sweep:
    unknown: list[str] = field(default_factory=list)
    requeue: list[str] = field(default_factory=list)
    handlers_rerun: int = 0
    inbound_processed: int = 0


def sweep(*, now: datetime | None = None, limit: int = 5000) -> Sweep:
    """Recover what workers left: `sending` too long → unknown; stale `queued` → requeue.

    Stored inbound items come first: what a lost task or a killed worker left
    unprocessed (a STOP among it) is processed before any message is requeued.
    Returns the ids of queued rows no task took in time; the caller enqueues them.
    """
    found = Sweep()
    found.inbound_processed = process_stragglers()
    now = now or timezone.now()
    stuck_before = now - timedelta(seconds=settings.WHATSAPP_SENDING_TIMEOUT)
    for row in OutboundMessage.objects.filter(
        status=Status.SENDING, claimed_at__lt=stuck_before
    ).order_by("claimed_at")[:limit]:
        with transaction.atomic():
            marked = OutboundMessage.objects.filter(
                pk=row.pk, status=Status.SENDING, claimed_at=row.claimed_at
            ).update(status=Status.UNKNOWN, error_title="the worker stopped mid-send")
            if marked:
                row.status, row.error_title = Status.UNKNOWN, "the worker stopped mid-send"
                tell_origin(row)
                found.unknown.append(str(row.pk))
    unclaimed_before = now - timedelta(seconds=settings.WHATSAPP_OUTBOX_REQUEUE_AFTER)
    found.requeue = [
        str(pk)
        for pk in OutboundMessage.objects.filter(
            status=Status.QUEUED, next_attempt_at__lt=unclaimed_before
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    ]
    for row in OutboundMessage.objects.exclude(handler_error="").exclude(
        status__in=[Status.QUEUED, Status.SENDING]
    )[:limit]:
        with transaction.atomic():
            tell_origin(row)
        found.handlers_rerun += 1
    return found
