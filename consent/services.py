"""Writes of the consent ledger. Nothing else creates a ConsentEvent."""

import hashlib
import ipaddress
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar, cast

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, User
from django.db import models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from contacts.models import Contact
from contacts.selectors import Identifiers
from contacts.services import mark_merged, resolve_or_create_contacts
from staff.audit import audit_entry, record_audit
from staff.models import AuditEntry
from whatsapp.handlers import current_business_number

from . import sql
from .chain import PERSONAL_FIELDS, event_hash, evidence_digest
from .exceptions import IdempotencyConflict, InvalidConsent
from .models import (
    ConsentEvent,
    ConsentEvidence,
    ConsentNotice,
    ConsentState,
    OutrankedOptOut,
    PolicyDeadlineChange,
    ReconsentPolicy,
    Topic,
    TopicState,
)
from .ordering import Standing, Weighed, effective_time, weigh
from .rules import (
    ACTIONS_NEEDING_NOTICE,
    PERMISSIVE_ACTIONS,
    RESTRICTIVE_ACTIONS,
    RESTRICTIVENESS,
    Action,
    IllegalTransition,
    Purpose,
    Source,
    Status,
    grant_may_expire,
)
from .selectors import effective_status
from .signals import consent_recorded, consent_withdrawn


@dataclass(frozen=True)
class Evidence:
    """How we know: what the person did, where, and what prompted it."""

    ip: str = ""
    user_agent: str = ""
    page_url: str = ""
    wamid: str = ""
    prompted_by_wamid: str = ""
    note: str = ""
    context: dict[str, Any] = field(default_factory=dict)


def _clean_choice(value: str, choices: type[models.Choices], name: str) -> str:
    if value not in choices.values:
        raise InvalidConsent(
            f"'{value}' is not a valid {name}; expected one of {', '.join(choices.values)}",
            code="invalid_choice",
            field=name,
        )
    return value


def _clean_ip(ip: str) -> str:
    if not ip:
        return ""
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        raise InvalidConsent(f"'{ip}' is not an IP address", field="evidence.ip") from None


def _fingerprint(**content: Any) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def active_policy() -> ReconsentPolicy | None:
    return ReconsentPolicy.objects.filter(active=True).first()


@dataclass(frozen=True)
class ConsentChange:
    """What one consent event says: whose, for which purpose, which act, from where, and how
    we know; optionally when, the notice shown, an end (legacy, pause), a retry key."""

    contact: Contact
    purpose: str
    action: str
    source: str
    notice: ConsentNotice | None = None
    occurred_at: datetime | None = None
    expires_at: datetime | None = None
    paused_until: datetime | None = None
    evidence: Evidence = field(default_factory=Evidence)
    idempotency_key: str | None = None
    # Set by record_topic only: the event is about this topic under `purpose`.
    topic: Topic | None = None


def record_consent(
    *,
    contact: Contact,
    purpose: str,
    action: str,
    source: str,
    notice: ConsentNotice | None = None,
    occurred_at: datetime | None = None,
    expires_at: datetime | None = None,
    paused_until: datetime | None = None,
    evidence: Evidence | None = None,
    idempotency_key: str | None = None,
    actor: Any = None,
    audited: bool = False,
    keep_if_inapplicable: bool = False,
) -> ConsentEvent:
    """`record` of the ConsentChange these keywords describe."""
    change = ConsentChange(
        contact=contact,
        purpose=purpose,
        action=action,
        source=source,
        notice=notice,
        occurred_at=occurred_at,
        expires_at=expires_at,
        paused_until=paused_until,
        evidence=evidence or Evidence(),
        idempotency_key=idempotency_key,
    )
    return record(change, actor=actor, audited=audited, keep_if_inapplicable=keep_if_inapplicable)


def record(
    change: ConsentChange,
    *,
    actor: Any = None,
    audited: bool = False,
    keep_if_inapplicable: bool = False,
) -> ConsentEvent:
    """Append one event to the contact's ledger and update the current state.

    Where the event lands follows `consent.ordering`: an opt-out always wins. An
    event that does not apply is kept as evidence (`applied=False`) and changes
    nothing; a restrictive one outranked by a later answer is listed for staff.
    A restrictive event is never refused for its date. With
    `keep_if_inapplicable`, an illegal transition is kept as evidence the same
    way instead of raising IllegalTransition.

    `actor` is who acts: a staff user (named on the event), an API key, or None (the
    system, the person themselves, a webhook). `audited` gives a staff user or an API key
    acting directly a staff audit row in the event's transaction; imports audit their
    job, and services that act for staff write their own row.
    """
    now = timezone.now()
    given_occurred_at = change.occurred_at
    change = _valid(change, now)
    ip = _clean_ip(change.evidence.ip)
    fingerprint = _retry_fingerprint(change, given_occurred_at)
    # Round trips (PostgreSQL): BEGIN (or the savepoint); the lock and the read; the
    # writes (the event's, its audit row, consent_recorded's receivers') answered at the
    # pipeline's end; COMMIT (or the release).
    with transaction.atomic():
        with sql.pipelined():
            # One lock per contact serialises its chain and all of its states; one
            # read then gives the state, the chain's head and the idempotency key.
            state, last, earlier_id = sql.lock_contact_and_read(
                change.contact, change.purpose, change.idempotency_key
            )
            if earlier_id is not None:
                return _earlier_event(earlier_id, fingerprint)
            standing = _standing(state)
            weighed = _weighed(change, standing, now, keep_if_inapplicable)
            event = _chained_event(change, now, ip, weighed, last, fingerprint, actor)
            projected = None
            if weighed.applied:
                projected = state or ConsentState(contact=change.contact, purpose=change.purpose)
                _project(projected, event, weighed.standing, save=False)
            personal = event.personal_evidence if event.evidence_digest else None
            audit = _audit_recorded(event, actor) if audited and actor is not None else None
            sql.write_event(event, personal, projected, audit)
            consent_recorded.send(sender=ConsentEvent, event=event, status_before=standing.status)
        # Outside the pipeline, inside the transaction: the receivers of a withdrawal
        # use the ORM as they like (an update's row count needs its answer at once).
        _announce(event, weighed)
    return event


def _retry_fingerprint(change: ConsentChange, given_occurred_at: datetime | None) -> str:
    """What a retry with the same idempotency key must repeat; without a key, nothing."""
    if not change.idempotency_key:
        return ""
    return _fingerprint(
        contact=str(change.contact.pk),
        purpose=change.purpose,
        action=change.action,
        source=change.source,
        notice=change.notice.pk if change.notice else None,
        occurred_at=given_occurred_at,
        expires_at=change.expires_at,
        paused_until=change.paused_until,
        evidence=asdict(change.evidence),
    )


def _audit_recorded(event: ConsentEvent, actor: Any) -> AuditEntry:
    return audit_entry(
        actor=actor,
        action="record_opt_out" if event.action == Action.WITHDRAW else "record_consent",
        obj=event,
        after={
            "purpose": event.purpose,
            "action": event.action,
            "applied": event.applied,
            "status": event.status_after,
        },
    )


def _valid(change: ConsentChange, now: datetime) -> ConsentChange:
    """`change` checked against the rules of a consent event, its ends made consistent."""
    purpose = _clean_choice(change.purpose, Purpose, "purpose")
    action = _clean_choice(change.action, Action, "action")
    source = _clean_choice(change.source, Source, "source")
    occurred_at = change.occurred_at or now
    if action not in RESTRICTIVE_ACTIONS and occurred_at > now + timedelta(
        seconds=settings.CONSENT_MAX_FUTURE_SKEW_SECONDS
    ):
        raise InvalidConsent(
            "occurred_at is in the future", code="occurred_in_future", field="occurred_at"
        )
    notice = change.notice
    if action in ACTIONS_NEEDING_NOTICE and (notice is None or not notice.is_published):
        raise InvalidConsent(
            f"a {action} must name the published notice the person was shown",
            code="notice_required",
            field="notice",
        )
    if notice is not None and notice.purpose != purpose:
        raise InvalidConsent(
            f"notice {notice.ref} is for {notice.purpose}, not {purpose}",
            code="notice_purpose_mismatch",
            field="notice",
        )
    topic_id = change.topic.pk if change.topic is not None else None
    if notice is not None and notice.topic_id != topic_id:
        raise InvalidConsent(
            f"notice {notice.ref} is not the wording of {change.topic or purpose}",
            code="notice_purpose_mismatch",
            field="notice",
        )
    expires_at = (
        legacy_expiry(change.expires_at)
        if action == Action.LEGACY
        else change.expires_at
        if grant_may_expire(action, purpose)
        else None
    )
    paused_until = change.paused_until if action == Action.PAUSE else None
    if action == Action.PAUSE and (
        paused_until is None or paused_until <= effective_time(occurred_at, now)
    ):
        raise InvalidConsent(
            "a pause needs an end after it starts", code="until_required", field="paused_until"
        )
    return replace(
        change,
        purpose=purpose,
        action=action,
        source=source,
        occurred_at=occurred_at,
        expires_at=expires_at,
        paused_until=paused_until,
    )


def _earlier_event(earlier_id: Any, fingerprint: str) -> ConsentEvent:
    """The event an idempotency key already recorded, if it was this same event."""
    earlier = ConsentEvent.objects.get(pk=earlier_id)
    if earlier.context.get("fingerprint") != fingerprint:
        raise IdempotencyConflict("this idempotency key was used for a different event")
    return earlier


def _weighed(
    change: ConsentChange, standing: Standing, now: datetime, keep_if_inapplicable: bool
) -> Weighed:
    effective_at = effective_time(cast(datetime, change.occurred_at), now)
    try:
        return weigh(standing, change.action, effective_at, purpose=change.purpose)
    except IllegalTransition:
        if not keep_if_inapplicable:
            raise
        return Weighed(False, standing)


def _chained_event(
    change: ConsentChange,
    now: datetime,
    ip: str,
    weighed: Weighed,
    last: dict[str, Any] | None,
    fingerprint: str,
    actor: Any,
) -> ConsentEvent:
    """The event as it joins its contact's chain (after `last`), with its evidence apart."""
    evidence = change.evidence
    context = dict(evidence.context)
    number = current_business_number()
    if number and "sending_number" not in context:
        # The business number a WhatsApp signal came through: chained with the event.
        context["sending_number"] = number
    if change.idempotency_key:
        context["fingerprint"] = fingerprint
    event = ConsentEvent(
        contact=change.contact,
        seq=(last["seq"] + 1) if last else 1,
        purpose=change.purpose,
        topic=change.topic.key if change.topic is not None else None,
        action=change.action,
        source=change.source,
        notice=change.notice,
        occurred_at=cast(datetime, change.occurred_at),  # filled in by _valid
        recorded_at=now,
        expires_at=change.expires_at,
        paused_until=change.paused_until,
        wamid=evidence.wamid,
        prompted_by_wamid=evidence.prompted_by_wamid,
        context=context,
        # The ledger names staff users; an API key is named in the staff audit.
        actor=cast("User", actor) if isinstance(actor, AbstractBaseUser) else None,
        idempotency_key=change.idempotency_key or None,
        applied=weighed.applied,
        status_after=weighed.standing.status,
        prev_hash=last["hash"] if last else None,
    )
    personal = ConsentEvidence(
        event=event,
        ip=ip,
        user_agent=evidence.user_agent[:2000],
        page_url=evidence.page_url,
        note=evidence.note,
    )
    if any(getattr(personal, name) for name in PERSONAL_FIELDS):
        personal.salt = secrets.token_hex(16)
        event.evidence_digest = evidence_digest(personal.salt, personal.__dict__)
    event.personal_evidence = personal
    event.hash = event_hash(event)
    return event


def _announce(event: ConsentEvent, weighed: Weighed) -> None:
    """An applied withdrawal tells the apps acting on consent; an outranked one is listed."""
    if weighed.applied:
        if event.action == Action.WITHDRAW:
            consent_withdrawn.send(
                sender=ConsentEvent, contact=event.contact, purpose=event.purpose, event=event
            )
    elif weighed.outranked:
        OutrankedOptOut.objects.create(event=event, outranked_by=_outranking(event))


def _standing(state: ConsentState | TopicState | None) -> Standing:
    if state is None:
        return Standing()
    return Standing(Status(state.status), state.latest_at, state.permissive_at)


def _outranking(event: ConsentEvent) -> ConsentEvent | None:
    # Permissive events apply only when later than everything applied, so the
    # last one applied (by seq) is the latest: the answer that outranked this one.
    return (
        ConsentEvent.objects.filter(
            contact_id=event.contact_id,
            purpose=event.purpose,
            topic=event.topic,
            applied=True,
            action__in=PERMISSIVE_ACTIONS,
            seq__lt=event.seq,
        )
        .order_by("-seq")
        .first()
    )


def legacy_expiry(expires_at: datetime | None) -> datetime:
    """Legacy consent ends at the active policy's deadline, never later."""
    policy = active_policy()
    if expires_at is None:
        if policy is None:
            raise InvalidConsent(
                "legacy consent needs expires_at or an active re-consent policy",
                code="expires_at_required",
                field="expires_at",
            )
        return policy.deadline
    if policy is not None and expires_at > policy.deadline:
        raise InvalidConsent(
            f"legacy consent cannot outlast the re-consent deadline "
            f"({policy.deadline.isoformat()}); extend the policy instead",
            code="expires_after_deadline",
            field="expires_at",
        )
    return expires_at


def _project(
    state: ConsentState, event: ConsentEvent, standing: Standing, *, save: bool = True
) -> None:
    state.status = standing.status
    state.since = effective_time(event.occurred_at, event.recorded_at)
    state.source = event.source
    state.notice = event.notice
    state.expires_at = (
        legacy_expiry_after_extensions(event.expires_at)
        if event.action == Action.LEGACY
        else event.expires_at
    )
    state.paused_until = event.paused_until
    state.latest_at = standing.latest_at
    state.permissive_at = standing.permissive_at
    state.last_event = event
    if save:
        state.save()


def record_opt_out(
    *,
    contacts: Sequence[Contact],
    purposes: Sequence[str],
    source: str,
    occurred_at: datetime | None = None,
    evidence: Evidence | None = None,
    actor: Any = None,
    idempotency_key: str | None = None,
    audited: bool = False,
) -> list[ConsentEvent]:
    """Withdraw `purposes` for every contact one person's identifiers named, at once.

    One transaction, one event in each contact's own chain; contacts are locked
    in primary-key order so two deliveries naming the same pair cannot deadlock.
    """
    recorded: list[ConsentEvent] = []
    ordered = sorted({c.pk: c for c in contacts}.values(), key=lambda c: str(c.pk))
    first = contacts[0].pk if contacts else None
    with transaction.atomic():
        for contact in ordered:
            for purpose in purposes:
                key = None
                if idempotency_key:
                    key = f"{idempotency_key}:{purpose}:withdraw"
                    if contact.pk != first:
                        key = f"{key}:{contact.pk}"
                recorded.append(
                    record_consent(
                        contact=contact,
                        purpose=purpose,
                        action=Action.WITHDRAW,
                        source=source,
                        occurred_at=occurred_at,
                        evidence=evidence,
                        actor=actor,
                        idempotency_key=key,
                        keep_if_inapplicable=True,
                        audited=audited,
                    )
                )
    return recorded


def record_for_person(
    ids: Identifiers,
    *,
    purpose: str,
    action: str,
    source: str,
    notice: ConsentNotice | None = None,
    occurred_at: datetime | None = None,
    expires_at: datetime | None = None,
    paused_until: datetime | None = None,
    evidence: Evidence | None = None,
    actor: Any = None,
) -> tuple[ConsentEvent, list[Any]]:
    """Record an event for the person `ids` name, a contact created if none is known, with
    its staff audit row: (the event of the primary contact, the other contacts' ids).

    One person may be two records (a phone and a WhatsApp id apart): an opt-out applies to
    each, anything else to the primary one. A refused event leaves no new contact behind.
    """
    with transaction.atomic():
        people = resolve_or_create_contacts(ids)
        if action != Action.WITHDRAW:
            change = ConsentChange(
                contact=people.primary,
                purpose=purpose,
                action=action,
                source=source,
                notice=notice,
                occurred_at=occurred_at,
                expires_at=expires_at,
                paused_until=paused_until,
                evidence=evidence or Evidence(),
            )
            return record(change, actor=actor, audited=True), []
        recorded = record_opt_out(
            contacts=people.contacts,
            purposes=[purpose],
            source=source,
            occurred_at=occurred_at,
            evidence=evidence,
            actor=actor,
            audited=True,
        )
    event = next(e for e in recorded if e.contact_id == people.primary.pk)
    return event, [e.contact_id for e in recorded if e.contact_id != event.contact_id]


def carry_restrictive_states(
    *,
    source_contact: Contact,
    to: Sequence[Contact],
    why: str,
    actor: AbstractBaseUser | None = None,
) -> list[ConsentEvent]:
    """Give each of `to` the opt-outs and pauses `source_contact` has (one person, two records)."""
    recorded: list[ConsentEvent] = []
    states = ConsentState.objects.filter(contact=source_contact)
    with transaction.atomic():
        for state in states:
            for target in to:
                if target.pk == source_contact.pk:
                    continue
                recorded += _carry(state, target, why=why, actor=actor)
    return recorded


def _carry(
    state: ConsentState, target: Contact, *, why: str, actor: AbstractBaseUser | None
) -> list[ConsentEvent]:
    theirs = ConsentState.objects.filter(contact=target, purpose=state.purpose).first()
    current = Status(theirs.status) if theirs else Status.NONE
    if RESTRICTIVENESS[current] >= RESTRICTIVENESS[Status(state.status)]:
        return []
    evidence = Evidence(note=why[:500], context={"carried_from": str(state.contact_id)})
    if state.status == Status.OPTED_OUT:
        action, until = Action.WITHDRAW, None
    elif state.status == Status.PAUSED and current == Status.OPTED_IN:
        action, until = Action.PAUSE, state.paused_until
        if until is None or until <= timezone.now():
            return []
    else:
        return []
    return [
        record_consent(
            contact=target,
            purpose=state.purpose,
            action=action,
            source=Source.SYSTEM if actor is None else Source.ADMIN,
            paused_until=until,
            evidence=evidence,
            actor=actor,
            keep_if_inapplicable=True,
        )
    ]


def merge_contacts(
    *, duplicate: Contact, survivor: Contact, actor: AbstractBaseUser | None
) -> Contact:
    """Staff merge two records of one person: the most restrictive state wins.

    Both ledgers stay as they are (each still verifies); the survivor gets the
    duplicate's opt-outs and pauses as events of its own, and the duplicate
    points at it, so any identifier of either answers for the survivor.
    """
    with transaction.atomic():
        first, second = sorted((duplicate, survivor), key=lambda c: str(c.pk))
        list(
            Contact.objects.select_for_update()
            .filter(pk__in=[first.pk, second.pk])
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        who = getattr(actor, "get_username", lambda: "system")()
        carry_restrictive_states(
            source_contact=duplicate,
            to=[survivor],
            why=f"merged from contact {duplicate.pk} by {who}",
            actor=actor,
        )
        merged = mark_merged(duplicate=duplicate, survivor=survivor, merged_by=who)
        record_audit(
            actor=actor,
            action="merge_contacts",
            obj=merged,
            before={"merged_into": None},
            after={"merged_into": str(survivor.pk)},
        )
        return merged


@transaction.atomic
def resolve_outranked_opt_out(
    *, item: OutrankedOptOut, withdraw: bool, actor: AbstractBaseUser
) -> OutrankedOptOut:
    """Staff decide an outranked opt-out: record it now (it applies), or keep the later answer."""
    item = OutrankedOptOut.objects.select_for_update().select_related("event").get(pk=item.pk)
    if item.resolution != OutrankedOptOut.Resolution.PENDING:
        return item
    if withdraw:
        event = item.event
        evidence = Evidence(
            note=f"opt-out {event.pk} was outranked by a later answer; staff recorded it now",
            context={"outranked_event": str(event.pk)},
        )
        topic = Topic.objects.filter(purpose=event.purpose, key=event.topic).first()
        if topic is not None:
            # An opt-out of one topic is recorded as that: the purpose stays as it is.
            item.resolution_event = record_topic_consent(
                contact=event.contact,
                topic=topic,
                action=Action.WITHDRAW,
                source=Source.ADMIN,
                evidence=evidence,
                actor=actor,
            )
        else:
            item.resolution_event = record_consent(
                contact=event.contact,
                purpose=event.purpose,
                action=Action.WITHDRAW,
                source=Source.ADMIN,
                actor=actor,
                evidence=evidence,
            )
        item.resolution = OutrankedOptOut.Resolution.WITHDRAWN
    else:
        item.resolution = OutrankedOptOut.Resolution.KEPT
    item.resolved_by = cast(User, actor)  # AUTH_USER_MODEL is auth.User
    item.resolved_at = timezone.now()
    item.save()
    record_audit(
        actor=actor,
        action="resolve_outranked_opt_out",
        obj=item,
        before={"resolution": OutrankedOptOut.Resolution.PENDING.value},
        after={"resolution": item.resolution},
    )
    return item


@transaction.atomic
def extend_policy_deadline(
    *,
    policy: ReconsentPolicy,
    new_deadline: datetime,
    reason: str,
    actor: AbstractBaseUser | None,
) -> PolicyDeadlineChange:
    """Move a re-consent deadline; legacy consent that ran to the old one follows it.

    Legacy consent is never extended one event at a time (an import cannot
    outlast the policy): staff move the policy, and this records who and why.
    """
    policy = ReconsentPolicy.objects.select_for_update().get(pk=policy.pk)
    if new_deadline <= policy.deadline:
        raise InvalidConsent(
            "a deadline can only move later", code="deadline_not_later", field="deadline"
        )
    change = PolicyDeadlineChange.objects.create(
        policy=policy,
        old_deadline=policy.deadline,
        new_deadline=new_deadline,
        reason=reason,
        changed_by=cast("User | None", actor),  # AUTH_USER_MODEL is auth.User
    )
    ConsentState.objects.filter(status=Status.LEGACY, expires_at=policy.deadline).update(
        expires_at=new_deadline
    )
    ReconsentPolicy.objects.filter(pk=policy.pk).update(deadline=new_deadline)
    record_audit(
        actor=actor,
        action="extend_policy_deadline",
        obj=policy,
        before={"deadline": change.old_deadline.isoformat()},
        after={"deadline": new_deadline.isoformat(), "reason": reason[:200]},
    )
    return change


def legacy_expiry_after_extensions(expires_at: datetime | None) -> datetime | None:
    """The deadline a legacy event's expiry has become through recorded extensions."""
    moves = dict(PolicyDeadlineChange.objects.values_list("old_deadline", "new_deadline"))
    seen = set()
    while expires_at in moves and expires_at not in seen:
        seen.add(expires_at)
        expires_at = moves[expires_at]
    return expires_at


# --- Erasure ----------------------------------------------------------------------


def pause_marketing(*, contact: Contact, weeks: int, actor: AbstractBaseUser) -> ConsentEvent:
    """Staff pause a person's marketing for `weeks` from now, with its staff audit row."""
    now = timezone.now()
    with transaction.atomic():
        event = record_consent(
            contact=contact,
            purpose=Purpose.MARKETING,
            action=Action.PAUSE,
            source=Source.ADMIN,
            occurred_at=now,
            paused_until=now + timedelta(weeks=weeks),
            actor=actor,
            evidence=Evidence(note="paused in the admin"),
        )
        record_audit(
            actor=actor,
            action="pause_marketing",
            obj=event,
            after={
                "purpose": event.purpose,
                "until": event.paused_until and event.paused_until.isoformat(),
            },
        )
    return event


def withdraw_before_erasure(*, contact: Contact, actor: Any = None) -> None:
    """A `withdraw` for every purpose not already opted out, before the person is erased.

    So that the number, still recognised by its keyed hash, answers `opted_out`, now and if
    it comes back, and a consent given before the erasure never revives.
    """
    for purpose in Purpose.values:
        state = ConsentState.objects.filter(contact=contact, purpose=purpose).first()
        if state is not None and state.status == Status.OPTED_OUT:
            continue
        record_consent(
            contact=contact,
            purpose=purpose,
            action=Action.WITHDRAW,
            source=Source.SYSTEM,
            # The ledger names staff users; an API key is named in the staff audit.
            actor=actor if isinstance(actor, AbstractBaseUser) else None,
            evidence=Evidence(context={"reason": "erasure"}),
        )


def erase_evidence(*, contact: Contact, at: datetime) -> int:
    """Blank the personal evidence of every event of `contact`; the events and digests stay.

    A form-1 event (evidence hashed inline) gets an empty row stamped too, so
    the ledger can tell erased evidence from evidence that never was.
    """
    events = ConsentEvent.objects.filter(contact=contact)
    blank = dict.fromkeys(("salt", *PERSONAL_FIELDS), "")
    changed = ConsentEvidence.objects.filter(event__in=events).update(**blank, erased_at=at)
    missing = events.filter(personal_evidence__isnull=True).values_list("pk", flat=True)
    ConsentEvidence.objects.bulk_create(
        [ConsentEvidence(event_id=pk, erased_at=at) for pk in missing.iterator()]
    )
    return changed


# --- Notices ------------------------------------------------------------------


@transaction.atomic
def publish_notice(*, notice: ConsentNotice, actor: Any = None) -> ConsentNotice:
    if notice.is_published:
        return notice
    ConsentNotice.objects.filter(pk=notice.pk, published_at__isnull=True).update(
        published_at=timezone.now()
    )
    notice.refresh_from_db()
    record_audit(
        actor=actor,
        action="publish_notice",
        obj=notice,
        before={"published_at": None},
        after={
            "ref": notice.ref,
            # Set just above, or by the publication that came first.
            "published_at": cast(datetime, notice.published_at).isoformat(),
        },
    )
    return notice


# --- The system's own transitions ---------------------------------------------


def expire_lapsed_legacy(*, at: datetime | None = None) -> int:
    """Move legacy states whose grace period has ended to `expired`; returns how many."""
    at = at or timezone.now()
    lapsed = ConsentState.objects.filter(status=Status.LEGACY, expires_at__lte=at)
    return expire_states(lapsed, at=at, note="grace period ended")


def expire_lapsed_call_permissions(*, at: datetime | None = None) -> int:
    """Move call permissions past their expiry to `expired`; returns how many.

    The same sweep as the legacy grace period: one set-based selection, an `expire`
    event per state. A permanent permission has no expires_at and never lapses.
    """
    at = at or timezone.now()
    lapsed = ConsentState.objects.filter(
        purpose=Purpose.CALLS, status=Status.OPTED_IN, expires_at__lte=at
    )
    return expire_states(lapsed, at=at, note="call permission expired")


def expire_states(
    states: QuerySet[ConsentState] | Iterable[ConsentState], *, at: datetime, note: str
) -> int:
    """The system's `expire` of each of `states` (a sweep of lapsed consent or stale
    requests), dated `at` but never before the state began; returns how many.

    A state the person changed after the sweep selected it (a renewed permission, a
    confirmed request) is left alone: the sweep expires what it saw, nothing newer.
    """
    if isinstance(states, QuerySet):
        states = states.select_related("contact").iterator(chunk_size=500)
    count = 0
    for state in states:
        with transaction.atomic():
            if not _unchanged_since_selected(state):
                continue
            record_consent(
                contact=state.contact,
                purpose=state.purpose,
                action=Action.EXPIRE,
                source=Source.SYSTEM,
                occurred_at=max(at, state.since) if state.since else at,
                evidence=Evidence(note=note),
                keep_if_inapplicable=True,
            )
        count += 1
    return count


def _unchanged_since_selected(state: ConsentState) -> bool:
    """Under the contact's lock (the one record_consent takes): is the state still as read?"""
    Contact.objects.select_for_update().filter(pk=state.contact_id).values_list("pk").first()
    return ConsentState.objects.filter(
        pk=state.pk, status=state.status, since=state.since, expires_at=state.expires_at
    ).exists()


# --- Projection rebuild ---------------------------------------------------------


@dataclass(frozen=True)
class StateDifference:
    contact_id: Any
    purpose: str
    stored: str
    rebuilt: str


class Replayable(Protocol):
    """What `replay` reads of an event: a ConsentEvent, or a row standing in for one."""

    @property
    def purpose(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def recorded_at(self) -> datetime: ...


_E = TypeVar("_E", bound=Replayable)


def replay(events: Iterable[_E]) -> dict[str, tuple[Standing, _E]]:
    """The standing each purpose reaches when `events` (one contact, in seq order) are weighed.

    The same rule the recorder used when each event arrived; an event the
    ledger forbade at its turn counts as not applied, as it was recorded.
    """
    reached: dict[str, tuple[Standing, _E]] = {}
    for event in events:
        if getattr(event, "topic", None):
            continue  # a topic's own standing: replay_topics
        standing, last = reached.get(event.purpose, (Standing(), None))
        at = effective_time(event.occurred_at, event.recorded_at)
        try:
            weighed = weigh(standing, event.action, at, purpose=event.purpose)
        except IllegalTransition:
            continue
        if weighed.applied:
            reached[event.purpose] = (weighed.standing, event)
    return reached


def replay_topics(events: Iterable[_E]) -> dict[tuple[str, str], tuple[Standing, _E]]:
    """`replay` of the topic events among `events`: the standing of each (purpose, topic)."""
    reached: dict[tuple[str, str], tuple[Standing, _E]] = {}
    for event in events:
        key = getattr(event, "topic", None)
        if not key:
            continue
        standing, _ = reached.get((event.purpose, key), (Standing(), None))
        at = effective_time(event.occurred_at, event.recorded_at)
        weighed = weigh(standing, event.action, at, purpose=event.purpose)
        if weighed.applied:
            reached[(event.purpose, key)] = (weighed.standing, event)
    return reached


def rebuild_contact_states(contact_id: Any) -> None:
    """Replay one contact's ledger with the ordering rule and write the states it gives.

    Under the contact's row lock, and its events read there: a consent recorded meanwhile
    is not lost.
    """
    with transaction.atomic():
        Contact.objects.select_for_update().only("pk").get(pk=contact_id)
        events = ConsentEvent.objects.filter(contact_id=contact_id).order_by("seq")
        rebuilt = replay(events.iterator(chunk_size=500))
        stored = {s.purpose: s for s in ConsentState.objects.filter(contact_id=contact_id)}
        for purpose in set(rebuilt) | set(stored):
            want, last = rebuilt.get(purpose, (Standing(), None))
            have = stored.get(purpose)
            if last is not None:
                # The projection of the recorder itself: one rule for both.
                _project(have or ConsentState(contact_id=contact_id, purpose=purpose), last, want)
            elif have is not None:
                have.delete()
        _rebuild_topic_states(contact_id, events)


def _rebuild_topic_states(contact_id: Any, events: QuerySet[ConsentEvent]) -> None:
    rebuilt = replay_topics(events.exclude(topic=None).iterator(chunk_size=500))
    stored = {
        (s.topic.purpose, s.topic.key): s
        for s in TopicState.objects.filter(contact_id=contact_id).select_related("topic")
    }
    topics = {(t.purpose, t.key): t for t in Topic.objects.all()}
    for key in set(rebuilt) | set(stored):
        want, last = rebuilt.get(key, (Standing(), None))
        have = stored.get(key)
        if last is not None:
            state = have or TopicState(contact_id=contact_id, topic=topics[key])
            _project_topic(state, last, Weighed(True, want))
        elif have is not None:
            have.delete()


# --- Topics -------------------------------------------------------------------------
#
# A topic event is a ledger event like any other (in the contact's one chain, weighed by
# consent.ordering), about one topic under its purpose; it projects to TopicState and
# leaves ConsentState alone. A purpose's applied withdrawal withdraws each of its topics
# still standing, one event per topic (consent.receivers).

TOPIC_ACTIONS = frozenset({Action.GRANT, Action.WITHDRAW})
# What a purpose must be for a topic under it to be granted.
PURPOSE_STATUSES_FOR_TOPICS = frozenset({Status.OPTED_IN, Status.LEGACY})


class PurposeNotGranted(InvalidConsent):
    """A topic refines a purpose: granting it needs the purpose granted first."""

    code = "purpose_not_granted"
    field = "topic"
    conflict = True

    def __init__(self, topic: Topic, current: str) -> None:
        self.current = current
        super().__init__(
            f"granting {topic} needs {topic.purpose} opted in (or legacy); it is '{current}'"
        )

    def extra(self) -> dict[str, Any]:
        return {"current_status": self.current}


def record_topic_consent(
    *,
    contact: Contact,
    topic: Topic,
    action: str,
    source: str,
    notice: ConsentNotice | None = None,
    occurred_at: datetime | None = None,
    evidence: Evidence | None = None,
    idempotency_key: str | None = None,
    actor: Any = None,
    audited: bool = False,
) -> ConsentEvent:
    """Append a grant or withdrawal of `topic` to the contact's ledger and project it.

    A grant names the topic's published notice and needs the purpose opted in (or
    legacy); a withdrawal is never refused, a retired topic's included.
    """
    change = ConsentChange(
        contact=contact,
        purpose=topic.purpose,
        topic=topic,
        action=action,
        source=source,
        notice=notice,
        occurred_at=occurred_at,
        evidence=evidence or Evidence(),
        idempotency_key=idempotency_key,
    )
    return record_topic(change, actor=actor, audited=audited)


def record_topic(
    change: ConsentChange, *, actor: Any = None, audited: bool = False
) -> ConsentEvent:
    now = timezone.now()
    topic = cast(Topic, change.topic)
    given_occurred_at = change.occurred_at
    change = _valid(_valid_topic_change(change, topic), now)
    ip = _clean_ip(change.evidence.ip)
    fingerprint = _fingerprint(
        contact=str(change.contact.pk),
        purpose=change.purpose,
        topic=topic.key,
        action=change.action,
        source=change.source,
        notice=change.notice.pk if change.notice else None,
        occurred_at=given_occurred_at,
        evidence=asdict(change.evidence),
    )
    with transaction.atomic():
        purpose_state, last, earlier_id = sql.lock_contact_and_read(
            change.contact, change.purpose, change.idempotency_key
        )
        if earlier_id is not None:
            return _earlier_event(earlier_id, fingerprint)
        if change.action == Action.GRANT:
            _require_purpose(topic, purpose_state, now)
        state = TopicState.objects.filter(contact=change.contact, topic=topic).first()
        standing = _standing(state)
        weighed = _weighed(change, standing, now, keep_if_inapplicable=False)
        event = _chained_event(change, now, ip, weighed, last, fingerprint, actor)
        sql.write_event(event, event.personal_evidence if event.evidence_digest else None, None)
        if weighed.applied:
            _project_topic(state or TopicState(contact=change.contact, topic=topic), event, weighed)
        elif weighed.outranked:
            OutrankedOptOut.objects.create(event=event, outranked_by=_outranking(event))
        consent_recorded.send(sender=ConsentEvent, event=event, status_before=standing.status)
        if audited and actor is not None:
            _audit_recorded(event, actor)
    return event


def _valid_topic_change(change: ConsentChange, topic: Topic) -> ConsentChange:
    if change.action not in TOPIC_ACTIONS:
        raise InvalidConsent(
            f"a topic is granted or withdrawn, not '{change.action}'",
            code="invalid_choice",
            field="action",
        )
    if change.action == Action.GRANT and topic.retired_at is not None:
        raise InvalidConsent(f"topic {topic} is retired", code="topic_retired", field="topic")
    return change


def _require_purpose(topic: Topic, state: ConsentState | None, now: datetime) -> None:
    # Read as the send gate reads it: a lapsed grace period is no longer legacy.
    current = effective_status(state, now)
    if current not in PURPOSE_STATUSES_FOR_TOPICS:
        raise PurposeNotGranted(topic, current)


def _project_topic(state: TopicState, event: ConsentEvent, weighed: Weighed) -> None:
    state.status = weighed.standing.status
    state.since = effective_time(event.occurred_at, event.recorded_at)
    state.source = event.source
    state.notice = event.notice
    state.latest_at = weighed.standing.latest_at
    state.permissive_at = weighed.standing.permissive_at
    state.last_event = event
    state.save()


def withdraw_topics_under(event: ConsentEvent) -> list[ConsentEvent]:
    """A purpose's applied withdrawal withdraws each topic under it not already withdrawn.

    One event per topic, dated as the purpose's withdrawal and linked to it, in its
    transaction: re-granting the purpose later grants no topic by itself.
    """
    standing = TopicState.objects.filter(
        contact_id=event.contact_id, topic__purpose=event.purpose
    ).exclude(status=Status.OPTED_OUT)
    recorded = []
    for state in standing.select_related("topic", "contact").order_by("topic__key"):
        change = ConsentChange(
            contact=state.contact,
            purpose=event.purpose,
            topic=state.topic,
            action=Action.WITHDRAW,
            source=event.source,
            occurred_at=event.occurred_at,
            evidence=Evidence(context={"withdrawn_with": str(event.pk)}),
        )
        recorded.append(record_topic(change))
    return recorded


def record_topic_for_person(
    ids: Identifiers,
    *,
    topic: Topic,
    action: str,
    source: str,
    notice: ConsentNotice | None = None,
    occurred_at: datetime | None = None,
    evidence: Evidence | None = None,
    actor: Any = None,
) -> tuple[ConsentEvent, list[Any]]:
    """`record_for_person` of a topic answer: a withdrawal for each contact the identifiers
    name (a contact created if none is known), a grant for the primary one."""
    with transaction.atomic():
        people = resolve_or_create_contacts(ids)
        targets = people.contacts if action == Action.WITHDRAW else [people.primary]
        recorded = [
            record_topic_consent(
                contact=contact,
                topic=topic,
                action=action,
                source=source,
                notice=notice,
                occurred_at=occurred_at,
                evidence=evidence,
                actor=actor,
                audited=True,
            )
            for contact in sorted(targets, key=lambda c: str(c.pk))
        ]
    event = next(e for e in recorded if e.contact_id == people.primary.pk)
    return event, [e.contact_id for e in recorded if e.contact_id != event.contact_id]


@transaction.atomic
def retire_topic(*, topic: Topic, actor: Any = None) -> Topic:
    """No longer offered: kept, since the ledger names it; nothing more is granted to it."""
    retired = Topic.objects.filter(pk=topic.pk, retired_at__isnull=True)
    if retired.update(retired_at=timezone.now()):
        topic.refresh_from_db()
        record_audit(
            actor=actor,
            action="retire_topic",
            obj=topic,
            before={"retired_at": None},
            after={"retired_at": topic.retired_at.isoformat() if topic.retired_at else None},
        )
    return topic
