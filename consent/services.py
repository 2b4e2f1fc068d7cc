"""Writes of the consent ledger. Nothing else creates a ConsentEvent."""

import hashlib
import ipaddress
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Protocol, TypeVar, cast

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, User
from django.db import connection, models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from contacts.models import Contact
from contacts.services import mark_merged
from staff.audit import record_audit

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
)
from .signals import consent_withdrawn


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
    actor: AbstractBaseUser | None = None,
    idempotency_key: str | None = None,
    keep_if_inapplicable: bool = False,
    audit_actor: Any = None,
) -> ConsentEvent:
    """Append one event to the contact's ledger and update the current state.

    Where the event lands follows `consent.ordering`: an opt-out always wins. An
    event that does not apply is kept as evidence (`applied=False`) and changes
    nothing; a restrictive one outranked by a later answer is listed for staff.
    A restrictive event is never refused for its date. With
    `keep_if_inapplicable`, an illegal transition is kept as evidence the same
    way instead of raising IllegalTransition. `audit_actor` (a staff user or an
    API key acting directly) gets a staff audit row in the event's transaction;
    imports audit their job, and customers and webhooks are not staff.
    """
    purpose = _clean_choice(purpose, Purpose, "purpose")
    action = _clean_choice(action, Action, "action")
    source = _clean_choice(source, Source, "source")
    evidence = evidence or Evidence()
    now = timezone.now()
    given_occurred_at = occurred_at
    occurred_at = occurred_at or now
    restrictive = action in RESTRICTIVE_ACTIONS
    if not restrictive and occurred_at > now + timedelta(
        seconds=settings.CONSENT_MAX_FUTURE_SKEW_SECONDS
    ):
        raise InvalidConsent(
            "occurred_at is in the future", code="occurred_in_future", field="occurred_at"
        )
    effective_at = effective_time(occurred_at, now)
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
    if action == Action.LEGACY:
        expires_at = _legacy_expiry(expires_at)
    if action == Action.PAUSE and (paused_until is None or paused_until <= effective_at):
        raise InvalidConsent(
            "a pause needs an end after it starts", code="until_required", field="paused_until"
        )
    if action != Action.LEGACY:
        expires_at = None
    if action != Action.PAUSE:
        paused_until = None
    ip = _clean_ip(evidence.ip)

    fingerprint = _fingerprint(
        contact=str(contact.pk),
        purpose=purpose,
        action=action,
        source=source,
        notice=notice.pk if notice else None,
        occurred_at=given_occurred_at,
        expires_at=expires_at,
        paused_until=paused_until,
        evidence=asdict(evidence),
    )

    with transaction.atomic():
        # One lock per contact serialises its chain and all of its states; one
        # read then gives the state, the chain's head and the idempotency key.
        state, last, earlier_id = _lock_and_read(contact, purpose, idempotency_key)

        if earlier_id is not None:
            earlier = ConsentEvent.objects.get(pk=earlier_id)
            if earlier.context.get("fingerprint") != fingerprint:
                raise IdempotencyConflict("this idempotency key was used for a different event")
            return earlier

        standing = _standing(state)
        try:
            weighed = weigh(standing, action, effective_at, purpose=purpose)
        except IllegalTransition:
            if not keep_if_inapplicable:
                raise
            weighed = Weighed(False, standing)

        context = dict(evidence.context)
        if idempotency_key:
            context["fingerprint"] = fingerprint
        event = ConsentEvent(
            contact=contact,
            seq=(last["seq"] + 1) if last else 1,
            purpose=purpose,
            action=action,
            source=source,
            notice=notice,
            occurred_at=occurred_at,
            recorded_at=now,
            expires_at=expires_at,
            paused_until=paused_until,
            wamid=evidence.wamid,
            prompted_by_wamid=evidence.prompted_by_wamid,
            context=context,
            actor=cast("User | None", actor),  # AUTH_USER_MODEL is auth.User
            idempotency_key=idempotency_key or None,
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
        projected = None
        if weighed.applied:
            projected = state or ConsentState(contact=contact, purpose=purpose)
            _project(projected, event, weighed.standing, save=False)
        _write(event, personal if event.evidence_digest else None, projected)

        if weighed.applied:
            if action == Action.WITHDRAW:
                consent_withdrawn.send(
                    sender=ConsentEvent, contact=contact, purpose=purpose, event=event
                )
        elif weighed.outranked:
            OutrankedOptOut.objects.create(event=event, outranked_by=_outranking(event))
        if audit_actor is not None:
            record_audit(
                actor=audit_actor,
                action="record_opt_out" if action == Action.WITHDRAW else "record_consent",
                obj=event,
                after={
                    "purpose": purpose,
                    "action": action,
                    "applied": event.applied,
                    "status": event.status_after,
                },
            )
    return event


_STATE_FIELDS = list(ConsentState._meta.concrete_fields)


def _lock_and_read(
    contact: Contact, purpose: str, idempotency_key: str | None
) -> tuple[ConsentState | None, dict[str, Any] | None, Any]:
    """Lock the contact, then read its state for `purpose`, its chain's head, the keyed event.

    Two statements instead of four or five. The read comes after the lock, not in
    the locking statement: a statement that waited for the lock would see the
    state and head of its own (older) snapshot, and fork the chain.
    """
    contact_id = Contact._meta.pk.get_db_prep_value(contact.pk, connection)
    with connection.cursor() as cursor:
        cursor.execute(_lock_sql(), [contact_id])
        if cursor.fetchone() is None:
            raise Contact.DoesNotExist(f"no contact {contact.pk}")
        cursor.execute(
            _read_sql(), {"contact": contact_id, "purpose": purpose, "key": idempotency_key}
        )
        *stored, head_seq, head_hash, earlier_id = cursor.fetchone()
    state = None
    if stored[0] is not None:
        state = ConsentState.from_db(
            ConsentState.objects.db, [f.attname for f in _STATE_FIELDS], _from_db(stored)
        )
    last = {"seq": head_seq, "hash": head_hash} if head_seq else None
    return state, last, earlier_id


@cache
def _lock_sql() -> str:
    q = connection.ops.quote_name
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    pk = cast(str, Contact._meta.pk.column)  # the primary key is a concrete column
    return f"SELECT 1 FROM {q(Contact._meta.db_table)} WHERE {q(pk)} = %s{lock}"  # noqa: S608


@cache
def _read_sql() -> str:
    """The read after the lock, written once from the models' tables and columns.

    Measured: building it (and the lock) through the ORM took about 10 ms of Python
    per event; the queries themselves take 0.1 ms.
    """
    q = connection.ops.quote_name
    state, event = ConsentState._meta, ConsentEvent._meta
    table, by_contact = q(event.db_table), q(event.get_field("contact").column)
    head = f"FROM {table} WHERE {by_contact} = %(contact)s ORDER BY {q('seq')} DESC LIMIT 1"
    # Concrete fields all have a column.
    columns = ", ".join(f"s.{q(cast(str, f.column))}" for f in _STATE_FIELDS)
    return (
        f"SELECT {columns}, (SELECT {q('seq')} {head}), (SELECT {q('hash')} {head}), "  # noqa: S608
        f"(SELECT {q('id')} FROM {table} WHERE {q('idempotency_key')} = %(key)s) "
        f"FROM (SELECT 1 AS one) AS one LEFT JOIN {q(state.db_table)} s "
        f"ON s.{q(state.get_field('contact').column)} = %(contact)s "
        f"AND s.{q(cast(str, state.get_field('purpose').column))} = %(purpose)s"
    )


def _from_db(values: list[Any]) -> list[Any]:
    """Column values as the ORM would give them (SQLite stores instants and ids as text)."""
    converted = []
    for model_field, value in zip(_STATE_FIELDS, values, strict=True):
        column = model_field.get_col(ConsentState._meta.db_table)
        converters = connection.ops.get_db_converters(column)
        for convert in converters + model_field.get_db_converters(connection):
            value = convert(value, column, connection)
        converted.append(value)
    return converted


def _standing(state: ConsentState | None) -> Standing:
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
            applied=True,
            action__in=PERMISSIVE_ACTIONS,
            seq__lt=event.seq,
        )
        .order_by("-seq")
        .first()
    )


def _legacy_expiry(expires_at: datetime | None) -> datetime:
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


def _write(
    event: ConsentEvent, personal: ConsentEvidence | None, state: ConsentState | None
) -> None:
    """Insert the event (and its evidence) and save the projected state.

    On PostgreSQL in one statement (the inserts as data-modifying CTEs, the state
    as an upsert on its (contact, purpose) key): one round trip instead of three.
    """
    if connection.vendor != "postgresql":
        event.save(force_insert=True)
        if personal is not None:
            personal.save(force_insert=True)
        if state is not None:
            state.save()
        return
    parts, params = [], []
    for name, instance in (("event", event), ("evidence", personal)):
        if instance is not None:
            table, columns, values = _insert_values(instance)
            parts.append(f"{name} AS (INSERT INTO {table} ({columns}) VALUES ({values}))")  # noqa: S608
            params += [v for _, v in _prepared(instance)]
    sql = "WITH " + ", ".join(parts)
    if state is None:
        sql += " SELECT 1"
    else:
        table, columns, values = _insert_values(state)
        kept = {"id", "contact_id", "purpose"}
        updates = ", ".join(
            f"{c} = EXCLUDED.{c}" for c, _ in _prepared(state, names_only=True) if c not in kept
        )
        sql += (
            f" INSERT INTO {table} ({columns}) VALUES ({values}) "  # noqa: S608
            f"ON CONFLICT (contact_id, purpose) DO UPDATE SET {updates} RETURNING id"
        )
        params += [v for _, v in _prepared(state)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if state is not None:
            state.pk = cursor.fetchone()[0]
    for row in (event, personal, state):
        if row is not None:
            row._state.adding = False
            row._state.db = connection.alias


def _prepared(instance, *, names_only: bool = False) -> list[tuple[str, Any]]:
    """(column, value for the database) of each field an INSERT gives, as save() prepares it."""
    adding = instance._state.adding
    fields = [
        f
        for f in instance._meta.concrete_fields
        if not (f.primary_key and isinstance(f, models.AutoField | models.BigAutoField))
    ]
    if names_only:
        return [(f.column, None) for f in fields]
    return [
        (f.column, f.get_db_prep_save(f.pre_save(instance, adding), connection)) for f in fields
    ]


def _insert_values(instance) -> tuple[str, str, str]:
    columns = [c for c, _ in _prepared(instance, names_only=True)]
    return (
        connection.ops.quote_name(instance._meta.db_table),
        ", ".join(connection.ops.quote_name(c) for c in columns),
        ", ".join(["%s"] * len(columns)),
    )


def record_opt_out(
    *,
    contacts: Sequence[Contact],
    purposes: Sequence[str],
    source: str,
    occurred_at: datetime | None = None,
    evidence: Evidence | None = None,
    actor: AbstractBaseUser | None = None,
    idempotency_key: str | None = None,
    audit_actor: Any = None,
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
                        audit_actor=audit_actor,
                    )
                )
    return recorded


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
        item.resolution_event = record_consent(
            contact=event.contact,
            purpose=event.purpose,
            action=Action.WITHDRAW,
            source=Source.ADMIN,
            actor=actor,
            evidence=Evidence(
                note=f"opt-out {event.pk} was outranked by a later answer; staff recorded it now",
                context={"outranked_event": str(event.pk)},
            ),
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


def expire_states(states: QuerySet[ConsentState], *, at: datetime, note: str) -> int:
    """The system's `expire` of each of `states` (a sweep of lapsed consent or stale
    requests), dated `at` but never before the state began; returns how many."""
    count = 0
    for state in states.select_related("contact").iterator(chunk_size=500):
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
        standing, last = reached.get(event.purpose, (Standing(), None))
        at = effective_time(event.occurred_at, event.recorded_at)
        try:
            weighed = weigh(standing, event.action, at, purpose=event.purpose)
        except IllegalTransition:
            continue
        if weighed.applied:
            reached[event.purpose] = (weighed.standing, event)
    return reached
