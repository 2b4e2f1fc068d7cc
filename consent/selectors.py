"""Reads of consent. Nothing else decides whether we may send."""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import (
    Case,
    CharField,
    F,
    FilteredRelation,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils import timezone

from contacts.models import Contact
from contacts.phones import InvalidPhone, normalize_phone, phone_hash
from contacts.selectors import Identifiers, suppressed_contacts

from . import sql
from .chain import ChainCheck, check_chain
from .models import ConsentEvent, ConsentNotice, ConsentState, Topic, TopicState
from .rules import Action, Purpose, Status


class WhatsAppUserId(str):
    """A business-scoped WhatsApp user id, for people known without a phone."""


class E164(str):
    """A phone already normalised (contacts.phones.normalize_phone): not parsed again."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    expires_at: datetime | None = None
    until: datetime | None = None


class Reason:
    OPTED_IN = "opted_in"
    LEGACY_GRACE_PERIOD = "legacy_grace_period"
    NO_CONSENT = "no_consent"
    PENDING_CONFIRMATION = "pending_confirmation"
    OPTED_OUT = "opted_out"
    PAUSED = "paused"
    LEGACY_EXPIRED = "legacy_expired"
    UNKNOWN_CONTACT = "unknown_contact"
    INVALID_PHONE = "invalid_phone"
    # Never an eligibility answer: the send gate's, for a message queued before a stop.
    WITHDRAWN_AFTER_QUEUED = "withdrawn_after_queued"
    # Staff blocked the person: never sent anything, whatever their consent.
    BLOCKED = "blocked"
    # The purpose allows it; the topic asked about holds it back (may_send_topic).
    TOPIC_OPTED_OUT = "topic_opted_out"
    TOPIC_NO_CONSENT = "topic_no_consent"


@dataclass(frozen=True)
class Rule:
    """One row of the eligibility table: a stored status (and maybe a lapsed instant) → reason."""

    status: str
    allowed: bool
    reason: str
    # The stored instant that must have passed (at >= it) for this row to apply.
    lapsed: str | None = None
    # The stored instant the decision reports: "expires_at" or "paused_until" (as `until`).
    reports: str | None = None


# The one eligibility rule: the first row matching the stored state decides. `decide`
# walks it in Python; `reason_expression` compiles it into SQL for set-based counts.
DECISION_RULES: tuple[Rule, ...] = (
    # A call permission granted for a time stops at its expires_at, before the sweep runs;
    # "legacy_expired" is the contract's reason for consent that lapsed.
    Rule(Status.OPTED_IN, False, Reason.LEGACY_EXPIRED, lapsed="expires_at", reports="expires_at"),
    Rule(Status.OPTED_IN, True, Reason.OPTED_IN, reports="expires_at"),
    # Lapsed legacy consent stops at the deadline, even before the expiry task runs.
    Rule(Status.LEGACY, False, Reason.LEGACY_EXPIRED, lapsed="expires_at", reports="expires_at"),
    Rule(Status.LEGACY, True, Reason.LEGACY_GRACE_PERIOD, reports="expires_at"),
    Rule(Status.PAUSED, True, Reason.OPTED_IN, lapsed="paused_until"),
    Rule(Status.PAUSED, False, Reason.PAUSED, reports="paused_until"),
    Rule(Status.OPTED_OUT, False, Reason.OPTED_OUT),
    Rule(Status.PENDING, False, Reason.PENDING_CONFIRMATION),
    Rule(Status.EXPIRED, False, Reason.LEGACY_EXPIRED),
)
# No state recorded, or "none".
OTHERWISE = Rule(Status.NONE, False, Reason.NO_CONSENT)
# A reason always means the same answer, so counting reasons counts who may be sent to.
ALLOWED_BY_REASON: dict[str, bool] = {
    **{r.reason: r.allowed for r in (*DECISION_RULES, OTHERWISE)},
    Reason.BLOCKED: False,
    Reason.TOPIC_OPTED_OUT: False,
    Reason.TOPIC_NO_CONSENT: False,
}
assert all(ALLOWED_BY_REASON[r.reason] == r.allowed for r in DECISION_RULES)


def decide(
    status: str | None,
    *,
    expires_at: datetime | None = None,
    paused_until: datetime | None = None,
    at: datetime,
) -> Decision:
    """The decision a stored state gives at instant `at` (pure: no queries)."""
    status = status or Status.NONE
    instants = {"expires_at": expires_at, "paused_until": paused_until}
    for rule in DECISION_RULES:
        if rule.status != status:
            continue
        if rule.lapsed is not None:
            instant = instants[rule.lapsed]
            if instant is None or at < instant:
                continue
        return Decision(
            rule.allowed,
            rule.reason,
            expires_at=expires_at if rule.reports == "expires_at" else None,
            until=paused_until if rule.reports == "paused_until" else None,
        )
    return Decision(OTHERWISE.allowed, OTHERWISE.reason)


# The status a person reads on the pages: the stored one as `decide` sees it at an instant
# (a lapsed pause reads as opted in, a lapsed legacy consent as expired).
STATUS_BY_REASON: dict[str, str] = {
    Reason.OPTED_IN: Status.OPTED_IN,
    Reason.LEGACY_GRACE_PERIOD: Status.LEGACY,
    Reason.NO_CONSENT: Status.NONE,
    Reason.PENDING_CONFIRMATION: Status.PENDING,
    Reason.OPTED_OUT: Status.OPTED_OUT,
    Reason.PAUSED: Status.PAUSED,
    Reason.LEGACY_EXPIRED: Status.EXPIRED,
}


def effective_status(state: ConsentState | None, at: datetime) -> str:
    """The status `state` has at `at`, by the same rule as `may_send`."""
    if state is None:
        return Status.NONE
    decision = decide(
        state.status, expires_at=state.expires_at, paused_until=state.paused_until, at=at
    )
    return STATUS_BY_REASON[decision.reason]


def reason_expression(at: datetime, *, prefix: str = "", blocked: str = "") -> Case:
    """`decide(...).reason` as one SQL CASE over the state columns `<prefix>status` etc.

    Generated from DECISION_RULES, so SQL and Python cannot drift; a missing state
    row (NULL status) falls through to OTHERWISE, as `decide(None)` does. `blocked`
    names the contact's `blocked_at` column: a blocked person is `blocked` first.
    """
    whens = []
    if blocked:
        whens.append(When(Q(**{f"{blocked}__isnull": False}), then=Value(Reason.BLOCKED)))
    for rule in DECISION_RULES:
        condition = Q(**{f"{prefix}status": rule.status})
        if rule.lapsed is not None:
            condition &= Q(**{f"{prefix}{rule.lapsed}__lte": at})
        whens.append(When(condition, then=Value(rule.reason)))
    return Case(*whens, default=Value(OTHERWISE.reason), output_field=CharField())


def _contacts_with_state(purpose: str) -> QuerySet[Contact]:
    return Contact.objects.annotate(
        state=FilteredRelation("consent_states", condition=Q(consent_states__purpose=purpose))
    )


_STATE_FIELDS = ("state__status", "state__expires_at", "state__paused_until")


def _decide_row(row: dict[str, Any] | None, at: datetime) -> Decision:
    if row is None:
        return Decision(False, Reason.UNKNOWN_CONTACT)
    if row.get("blocked_at"):
        return Decision(False, Reason.BLOCKED)
    if row.get("merged_into_id"):
        # A merged duplicate answers for the person: the survivor's state.
        return may_send(_survivor(row["merged_into_id"]), row["purpose"], at)
    return decide(
        row["state__status"],
        expires_at=row["state__expires_at"],
        paused_until=row["state__paused_until"],
        at=at,
    )


def may_send(who: Contact | str, purpose: str, at: datetime | None = None) -> Decision:
    """May we send `purpose` to this contact (or phone, or WhatsAppUserId) at `at`?

    One query whatever the input; an erased contact is still found by the keyed
    hash of its phone.
    """
    at = at or timezone.now()
    purpose = Purpose(purpose)
    value: Any
    if isinstance(who, Contact):
        column, value = "id", who.pk
    elif isinstance(who, WhatsAppUserId):
        column, value = "whatsapp_user_id", str(who)
    elif isinstance(who, E164):
        column, value = "phone_hash", phone_hash(str(who))
    else:
        try:
            column, value = "phone_hash", phone_hash(normalize_phone(who))
        except InvalidPhone:
            return Decision(False, Reason.INVALID_PHONE)
    row = _state_row(column, value, purpose)
    if row is None and isinstance(who, WhatsAppUserId):
        # An erased person's user id is only on the suppression list now.
        erased = suppressed_contacts(Identifiers(whatsapp_user_id=str(who)))
        if erased:
            return may_send(erased[0], purpose, at)
    return _decide_row(row, at)


def opted_out_of(*, contact: Contact, purposes: Iterable[str]) -> set[str]:
    """The purposes among `purposes` this person said stop to.

    Nothing asks them about those again unless they write to us themselves (START).
    """
    return {p for p in purposes if may_send(contact, p).reason == Reason.OPTED_OUT}


def withdrawn_since(
    *, contact_id: Any, since: datetime, purposes: Iterable[str] | None = None
) -> bool:
    """True when this person withdrew (one of `purposes`; None: any) after `since`.

    By when we learned of it (`recorded_at`): a STOP stored during an outage and
    processed after a message was queued counts, whatever time it states. Withdraws
    kept as evidence only (a later answer outranked them) count too: the restrictive
    answer. The survivor of a merged contact answers for it. One statement on the
    ledger's (contact, seq) index: a person's own events, a handful.
    """
    survivor = Contact.objects.filter(pk=contact_id).order_by().values("merged_into_id")[:1]
    events = ConsentEvent.objects.filter(
        Q(contact_id=contact_id) | Q(contact_id=Subquery(survivor)),
        action=Action.WITHDRAW,
        recorded_at__gt=since,
        # Leaving one topic is not a stop of its purpose (a purpose's stop is its own event).
        topic__isnull=True,
    )
    if purposes is not None:
        events = events.filter(purpose__in=list(purposes))
    return events.exists()


# The single lookup is the hot path of every send and every eligibility request: on
_SINGLE_COLUMNS = ("id", "whatsapp_user_id", "phone_hash")


def _state_row(column: str, value: Any, purpose: str) -> dict[str, Any] | None:
    """The contact found by a unique `column` with its state for `purpose`, as `_decide_row`
    reads it; None when nobody has that value."""
    if column not in _SINGLE_COLUMNS:
        raise ValueError(f"not a unique identifier column: {column}")
    if connection.vendor != "postgresql":
        # SQLite's raw datetimes are naive text: the ORM converts them.
        found = (
            _contacts_with_state(purpose)
            .filter(**{column: value})
            .values(*_STATE_FIELDS, "merged_into_id", "blocked_at")
            .first()
        )
        if found is not None:
            found["purpose"] = purpose
        return found
    result = sql.state_row_by_unique_column(column, value, purpose)
    if result is None:
        return None
    merged_into_id, status, expires_at, paused_until, blocked_at = result
    return {
        "merged_into_id": merged_into_id,
        "blocked_at": blocked_at,
        "state__status": status,
        "state__expires_at": expires_at,
        "state__paused_until": paused_until,
        "purpose": purpose,
    }


def _survivor(contact_id: Any) -> Contact:
    return Contact.objects.only("pk").get(pk=contact_id)


BULK_CHUNK = 5000


E164_SHAPE = re.compile(r"\+[1-9]\d{6,14}")


def may_send_many(
    phones: Sequence[str], purpose: str, at: datetime | None = None
) -> list[tuple[str, Decision]]:
    """`may_send` for many phones in the order given: (phone as E.164 or as given, decision).

    At most two queries per BULK_CHUNK phones, whatever their count. Inputs
    already in E.164 are looked up before any parsing, and only the misses are
    parsed: a stored phone was validated when stored, so a hit is a valid number.
    """
    at = at or timezone.now()
    purpose = Purpose(purpose)
    shown = list(phones)
    found: dict[int, dict[str, Any] | None] = {}

    fast = {
        i: phone_hash(p)
        for i, p in enumerate(shown)
        if isinstance(p, str) and E164_SHAPE.fullmatch(p)
    }
    rows = _state_rows_by_hash(set(fast.values()), purpose)
    for i, digest in fast.items():
        if digest in rows:
            found[i] = rows[digest]

    second: dict[int, str] = {}
    for i, raw in enumerate(shown):
        if i in found:
            continue
        try:
            e164 = normalize_phone(raw)
        except InvalidPhone:
            continue
        shown[i] = e164
        if i in fast and e164 == raw:
            found[i] = None  # looked up already: not a contact of ours
        else:
            second[i] = phone_hash(e164)
    rows = _state_rows_by_hash(set(second.values()), purpose)
    for i, digest in second.items():
        found[i] = rows.get(digest)

    return _decided(shown, found, at)


def _decided(
    shown: list[str], found: dict[int, dict[str, Any] | None], at: datetime
) -> list[tuple[str, Decision]]:
    """Each phone with its decision: invalid where it is not in `found` (it did not parse)."""
    invalid = Decision(False, Reason.INVALID_PHONE)
    # Most rows share a handful of states: decide each distinct one once.
    decided: dict[tuple | None, Decision] = {}

    def decision_for(row: dict[str, Any] | None) -> Decision:
        key = _state_key(row) if row else None
        if key not in decided:
            decided[key] = _decide_row(row, at)
        return decided[key]

    return [
        (phone, decision_for(found[i]) if i in found else invalid) for i, phone in enumerate(shown)
    ]


def _state_key(row: dict[str, Any]) -> tuple:
    """What a stored row's decision depends on: rows alike decide alike."""
    return (
        row["state__status"],
        row["state__expires_at"],
        row["state__paused_until"],
        row.get("merged_into_id"),
        bool(row.get("blocked_at")),
    )


def _state_rows_by_hash(hashes: set[str], purpose: str) -> dict[str, dict[str, Any]]:
    if connection.vendor == "postgresql":
        return sql.states_by_phone_hash(sorted(hashes), purpose)
    ordered = sorted(hashes)
    rows: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ordered), BULK_CHUNK):
        query = (
            _contacts_with_state(purpose)
            .filter(phone_hash__in=ordered[start : start + BULK_CHUNK])
            .order_by()
        )
        for row in query.values("phone_hash", "merged_into_id", "blocked_at", *_STATE_FIELDS):
            row["purpose"] = purpose
            rows[row["phone_hash"]] = row
    return rows


def may_send_contacts(
    contact_ids: Iterable[Any], purpose: str, at: datetime | None = None
) -> dict[Any, Decision]:
    """Decisions for many contacts by id, one query per BULK_CHUNK ids."""
    at = at or timezone.now()
    ids = list(contact_ids)
    found: dict[Any, Decision] = {}
    for start in range(0, len(ids), BULK_CHUNK):
        query = _contacts_with_state(Purpose(purpose)).filter(
            pk__in=ids[start : start + BULK_CHUNK]
        )
        for row in query.values("pk", "merged_into_id", "blocked_at", *_STATE_FIELDS):
            row["purpose"] = purpose
            found[row["pk"]] = _decide_row(row, at)
    return {pk: found.get(pk, Decision(False, Reason.UNKNOWN_CONTACT)) for pk in ids}


# --- Current state, ledger, notices --------------------------------------------


def consent_states(contact: Contact) -> dict[str, ConsentState | None]:
    """The state of every purpose for one contact (None where nothing was recorded)."""
    stored = {
        s.purpose: s for s in ConsentState.objects.filter(contact=contact).select_related("notice")
    }
    return {purpose: stored.get(purpose) for purpose in Purpose.values}


def ledger(contact: Contact) -> QuerySet[ConsentEvent]:
    return (
        ConsentEvent.objects.filter(contact=contact)
        .select_related("notice__topic", "personal_evidence")
        .order_by("seq")
    )


def verify_contact_ledger(contact: Contact) -> ChainCheck:
    return check_chain(contact.pk)


def published_notices() -> QuerySet[ConsentNotice]:
    return ConsentNotice.objects.filter(published_at__isnull=False)


def current_notice(purpose: str, language: str) -> ConsentNotice | None:
    """The latest published notice for purpose + language (English as fallback)."""
    for lang in dict.fromkeys([language, "en"]):
        notice = (
            published_notices()
            .filter(purpose=purpose, topic__isnull=True, language=lang)
            .order_by("-version")
            .first()
        )
        if notice:
            return notice
    return None


# ASCII only: int() would read "١" (Arabic-Indic one) as 1, and a version beyond nine
# digits overflows the column.
_NOTICE_REF = re.compile(
    r"([a-z_]{1,16})/(?:([a-z0-9_-]{1,32})/)?([A-Za-z0-9_-]{1,16})/([0-9]{1,9})", re.ASCII
)


def notice_by_ref(ref: str) -> ConsentNotice | None:
    """`marketing/en/3` (a purpose's) or `marketing/offers/en/1` (a topic's) → that
    published notice, or None."""
    found = _NOTICE_REF.fullmatch(ref) if isinstance(ref, str) else None
    if found is None:
        return None
    purpose, topic, language, version = found.groups()
    by_topic = {"topic__key": topic} if topic else {"topic__isnull": True}
    try:
        return (
            published_notices()
            .select_related("topic")
            .get(purpose=purpose, language=language, version=int(version), **by_topic)
        )
    except ConsentNotice.DoesNotExist:
        return None


# --- Topics ---------------------------------------------------------------------------
#
# A topic narrows what its purpose allows: the purpose's decision is asked first, by the
# paths above unchanged; only a contact it allows has its topic state read.


def topics(purpose: str | None = None, *, retired: bool = False) -> QuerySet[Topic]:
    """The topics offered (under `purpose`), with their published notices."""
    found = Topic.objects.prefetch_related(
        Prefetch("notices", queryset=published_notices().order_by("language", "version"))
    )
    if purpose:
        found = found.filter(purpose=purpose)
    if not retired:
        found = found.filter(retired_at__isnull=True)
    return found.order_by("purpose", "key")


def offered_topics() -> QuerySet[Topic]:
    """The topics offered now, without their notices: what a contact's body lists."""
    return Topic.objects.filter(retired_at__isnull=True).order_by("purpose", "key")


def topic_by_key(purpose: str, key: str) -> Topic | None:
    return Topic.objects.filter(purpose=purpose, key=key).first()


def current_topic_notice(topic: Topic, language: str) -> ConsentNotice | None:
    """The latest published wording of `topic` in `language` (English as fallback)."""
    for lang in dict.fromkeys([language, "en"]):
        notice = published_notices().filter(topic=topic, language=lang).order_by("-version")
        if found := notice.first():
            return found
    return None


def topic_states(contact: Contact) -> dict[str, dict[str, TopicState]]:
    """Per purpose, the stored state of each topic this contact has answered about."""
    found: dict[str, dict[str, TopicState]] = {}
    stored = TopicState.objects.filter(contact=contact).select_related("topic", "notice__topic")
    for state in stored:
        found.setdefault(state.topic.purpose, {})[state.topic.key] = state
    return found


# The topic's own status → the reason it refuses what its purpose allows (None: it allows).
# Any other status, or none recorded, refuses as TOPIC_OTHERWISE. `narrowed_by_topic`
# walks it in Python; `topic_reason_expression` compiles it into SQL.
TOPIC_RULES: dict[str, str | None] = {
    Status.OPTED_IN: None,
    Status.OPTED_OUT: Reason.TOPIC_OPTED_OUT,
}
TOPIC_OTHERWISE = Reason.TOPIC_NO_CONSENT
# The topic statuses that let through what the purpose allows.
TOPIC_ALLOWING = tuple(status for status, refusal in TOPIC_RULES.items() if refusal is None)


def narrowed_by_topic(decision: Decision, topic_status: str | None) -> Decision:
    """What the purpose's `decision` becomes once the topic's own status is read."""
    if not decision.allowed:
        return decision
    refusal = TOPIC_RULES.get(topic_status or "", TOPIC_OTHERWISE)
    return decision if refusal is None else Decision(False, refusal)


def topic_reason_expression(*, reason: str, topic_status: str) -> Case:
    """`narrowed_by_topic(...).reason` as SQL over two annotations: `reason`, the purpose's
    (`reason_expression`), and `topic_status`, the contact's TopicState status (NULL: none)."""
    allowing = [r for r, allowed in ALLOWED_BY_REASON.items() if allowed]
    whens = [When(~Q(**{f"{reason}__in": allowing}), then=F(reason))]
    for status, refusal in TOPIC_RULES.items():
        outcome = F(reason) if refusal is None else Value(refusal)
        whens.append(When(Q(**{topic_status: status}), then=outcome))
    return Case(*whens, default=Value(TOPIC_OTHERWISE), output_field=CharField())


def may_send_topic(who: Contact | str, topic: Topic, at: datetime | None = None) -> Decision:
    """`may_send` for the topic's purpose, narrowed by the person's answer about `topic`."""
    return narrowed_to_topic(may_send(who, topic.purpose, at), who, topic)


def narrowed_to_topic(decision: Decision, who: Contact | str, topic: Topic) -> Decision:
    """A decision about `who` for the topic's purpose, narrowed by their answer about it."""
    if not decision.allowed:
        return decision
    contact_id = _answering_contact(who)
    status = (
        TopicState.objects.filter(contact_id=contact_id, topic=topic)
        .values_list("status", flat=True)
        .first()
    )
    return narrowed_by_topic(decision, status)


def _answering_contact(who: Contact | str) -> Any:
    """The id of the contact whose states answer for `who` (a merged one's survivor)."""
    if isinstance(who, Contact):
        found = Contact.objects.filter(pk=who.pk)
    elif isinstance(who, WhatsAppUserId):
        found = Contact.objects.filter(whatsapp_user_id=str(who))
    else:
        phone = str(who) if isinstance(who, E164) else normalize_phone(who)
        found = Contact.objects.filter(phone_hash=phone_hash(phone))
    row = found.values("pk", "merged_into_id").first()
    return row and (row["merged_into_id"] or row["pk"])


def may_send_topic_many(
    phones: Sequence[str], topic: Topic, at: datetime | None = None
) -> list[tuple[str, Decision]]:
    """`may_send_many` for the topic's purpose, narrowed by each allowed person's answer."""
    return many_narrowed_to_topic(may_send_many(phones, topic.purpose, at), topic)


def many_narrowed_to_topic(
    answers: list[tuple[str, Decision]], topic: Topic
) -> list[tuple[str, Decision]]:
    """`may_send_many` answers (phones in E.164 where allowed), narrowed to `topic`."""
    allowed = {phone_hash(phone) for phone, decision in answers if decision.allowed}
    statuses: dict[str | None, str] = {}
    ordered = sorted(allowed)
    for start in range(0, len(ordered), BULK_CHUNK):
        people = Contact.objects.filter(phone_hash__in=ordered[start : start + BULK_CHUNK])
        answering: dict[Any, list[str | None]] = {}
        for row in people.values("pk", "merged_into_id", "phone_hash"):
            answering.setdefault(row["merged_into_id"] or row["pk"], []).append(row["phone_hash"])
        stored = TopicState.objects.filter(contact_id__in=list(answering), topic=topic)
        for contact_id, status in stored.values_list("contact_id", "status"):
            statuses.update(dict.fromkeys(answering[contact_id], status))
    return [
        (phone, narrowed_by_topic(d, statuses.get(phone_hash(phone)) if d.allowed else None))
        for phone, d in answers
    ]
