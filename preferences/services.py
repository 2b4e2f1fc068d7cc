"""The preference centre: what a contact sees about their consent, and the changes they make."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from consent.exceptions import InvalidConsent
from consent.models import ConsentEvent, ConsentNotice, ConsentState, Topic
from consent.rules import MESSAGE_PURPOSES, Action, Purpose, Source, Status
from consent.selectors import (
    consent_states,
    current_notice,
    current_topic_notice,
    effective_status,
    ledger,
    notice_by_ref,
    offered_topics,
    topic_states,
    verify_contact_ledger,
)
from consent.services import (
    PURPOSE_STATUSES_FOR_TOPICS,
    Evidence,
    active_policy,
    record_consent,
    record_topic_consent,
)
from contacts.models import Contact
from conversation import outreach

from . import wording

logger = logging.getLogger(__name__)

PAUSE_WEEKS = (1, 4, 12)
# Statuses in which messages may (still) be sent, so the person can turn them off.
_LIVE = {Status.OPTED_IN, Status.PAUSED, Status.LEGACY}


@dataclass(frozen=True)
class PurposeCard:
    purpose: str
    name: str
    description: str
    status: str
    status_word: str
    sentence: str
    agreed_notice: ConsentNotice | None
    notice_to_accept: ConsentNotice | None
    can_turn_on: bool
    can_turn_off: bool
    can_pause: bool


def purpose_cards(
    contact: Contact, *, language: str, at: datetime | None = None
) -> list[PurposeCard]:
    at = at or timezone.now()
    cards = []
    for purpose, state in consent_states(contact).items():
        status = effective_status(state, at)
        agreed = state.notice if state and status in (Status.OPTED_IN, Status.PAUSED) else None
        if state and status == Status.PENDING:
            agreed = None
        # A call permission is only ever granted in WhatsApp's own dialog: withdrawn here.
        to_accept = current_notice(purpose, language) if purpose in MESSAGE_PURPOSES else None
        if state and state.status == Status.PAUSED and status == Status.OPTED_IN:
            sentence = wording.state_sentence(
                Status.OPTED_IN, since=state.paused_until, source=state.source
            )
        else:
            sentence = wording.state_sentence(
                status,
                since=state.since if state else None,
                source=state.source if state else "",
                expires_at=state.expires_at if state else None,
                paused_until=state.paused_until if state else None,
            )
        cards.append(
            PurposeCard(
                purpose=purpose,
                name=wording.purpose_name(purpose),
                description=wording.purpose_description(purpose),
                status=status,
                status_word=wording.status_word(status),
                sentence=sentence,
                agreed_notice=agreed,
                notice_to_accept=to_accept,
                can_turn_on=to_accept is not None and status != Status.OPTED_IN,
                can_turn_off=status in _LIVE,
                can_pause=purpose == Purpose.MARKETING
                and state is not None
                and state.status in (Status.OPTED_IN, Status.PAUSED),
            )
        )
    return cards


@dataclass(frozen=True)
class TopicCard:
    """One topic under its purpose's card: what the person keeps or leaves."""

    topic: Topic
    name: str
    description: str
    status: str
    status_word: str
    agreed_notice: ConsentNotice | None
    notice_to_accept: ConsentNotice | None
    can_turn_on: bool
    can_turn_off: bool


def topic_cards(
    contact: Contact, *, language: str, at: datetime | None = None
) -> dict[str, list[TopicCard]]:
    """Per purpose, each topic offered under it; one is turned on only under a live purpose."""
    at = at or timezone.now()
    answered, states = topic_states(contact), consent_states(contact)
    cards: dict[str, list[TopicCard]] = {}
    for topic in offered_topics():
        state = answered.get(topic.purpose, {}).get(topic.key)
        status = state.status if state else Status.NONE
        purpose_open = (
            effective_status(states.get(topic.purpose), at) in PURPOSE_STATUSES_FOR_TOPICS
        )
        to_accept = current_topic_notice(topic, language)
        cards.setdefault(topic.purpose, []).append(
            TopicCard(
                topic=topic,
                name=topic.name(language),
                description=topic.description(language),
                status=status,
                status_word=wording.topic_status_word(status),
                agreed_notice=state.notice if state and status == Status.OPTED_IN else None,
                notice_to_accept=to_accept,
                can_turn_on=purpose_open and to_accept is not None and status != Status.OPTED_IN,
                can_turn_off=status == Status.OPTED_IN,
            )
        )
    return cards


def topic_status(contact: Contact, topic: Topic) -> str:
    state = topic_states(contact).get(topic.purpose, {}).get(topic.key)
    return state.status if state else Status.NONE


def turn_topic_on(
    *, contact: Contact, topic: Topic, notice: ConsentNotice, evidence: Evidence
) -> ConsentEvent:
    """A grant of one topic naming the wording shown beside the box the person ticked."""
    latest = current_topic_notice(topic, notice.language)
    if latest is None or latest.pk != notice.pk:
        raise InvalidConsent(
            "the wording shown is no longer current", code="notice_outdated", field="notice"
        )
    return record_topic_consent(
        contact=contact,
        topic=topic,
        action=Action.GRANT,
        source=Source.PREFERENCE_CENTRE,
        notice=notice,
        evidence=evidence,
    )


def turn_topic_off(*, contact: Contact, topic: Topic, evidence: Evidence) -> ConsentEvent:
    """One tap: the topic's withdrawal (never refused)."""
    return record_topic_consent(
        contact=contact,
        topic=topic,
        action=Action.WITHDRAW,
        source=Source.PREFERENCE_CENTRE,
        evidence=evidence,
    )


def legacy_deadline(contact: Contact, *, at: datetime | None = None) -> datetime | None:
    """The earliest end of a still-running legacy consent, for the banner."""
    at = at or timezone.now()
    deadlines = [
        state.expires_at or (policy.deadline if (policy := active_policy()) else None)
        for state in consent_states(contact).values()
        if state is not None and effective_status(state, at) == Status.LEGACY
    ]
    known = [d for d in deadlines if d is not None]
    return min(known) if known else None


def history(contact: Contact) -> list[tuple[ConsentEvent, str]]:
    """The ledger, newest first, each event with its plain-language sentence."""
    events = list(ledger(contact))
    language = translation.get_language() or "en"
    names = {(t.purpose, t.key): t.name(language) for t in Topic.objects.all()}
    return [
        (
            event,
            wording.history_sentence(
                event, topic_name=names.get((event.purpose, event.topic or ""))
            ),
        )
        for event in reversed(events)
    ]


def is_current_notice(notice: ConsentNotice) -> bool:
    latest = current_notice(notice.purpose, notice.language)
    return latest is not None and latest.pk == notice.pk and latest.language == notice.language


# --- Changes ----------------------------------------------------------------------


def turn_on(
    *, contact: Contact, purpose: str, notice: ConsentNotice, evidence: Evidence
) -> ConsentEvent:
    """A grant naming the wording shown beside the box the person ticked."""
    if not is_current_notice(notice):
        raise InvalidConsent(
            "the wording shown is no longer current", code="notice_outdated", field="notice"
        )
    state = consent_states(contact).get(purpose)
    if (earlier := _already(state, Status.OPTED_IN)) and state and state.notice_id == notice.pk:
        return earlier  # a second tap of the same button
    event = record_consent(
        contact=contact,
        purpose=purpose,
        action=Action.GRANT,
        source=Source.PREFERENCE_CENTRE,
        notice=notice,
        evidence=evidence,
    )
    confirm_on_whatsapp(contact, event)
    return event


def turn_off(*, contact: Contact, purpose: str, evidence: Evidence) -> ConsentEvent:
    state = consent_states(contact).get(purpose)
    if earlier := _already(state, Status.OPTED_OUT):
        return earlier  # a second tap of the same button
    context = dict(evidence.context)
    if state is not None and state.notice is not None:
        # What an undo shows again.
        context["notice_before"] = state.notice.ref
    event = record_consent(
        contact=contact,
        purpose=purpose,
        action=Action.WITHDRAW,
        source=Source.PREFERENCE_CENTRE,
        evidence=with_context(evidence, context),
    )
    confirm_on_whatsapp(contact, event)
    return event


def pause_marketing(*, contact: Contact, weeks: int, evidence: Evidence) -> ConsentEvent:
    if weeks not in PAUSE_WEEKS:
        raise InvalidConsent(
            f"a pause lasts one of {PAUSE_WEEKS} weeks", code="invalid_choice", field="weeks"
        )
    now = timezone.now()
    event = record_consent(
        contact=contact,
        purpose=Purpose.MARKETING,
        action=Action.PAUSE,
        source=Source.PREFERENCE_CENTRE,
        occurred_at=now,
        paused_until=now + timedelta(weeks=weeks),
        evidence=evidence,
    )
    confirm_on_whatsapp(contact, event)
    return event


def undo_window() -> timedelta:
    return timedelta(minutes=settings.PREFERENCE_UNDO_MINUTES)


def undo_notice(event: ConsentEvent, *, language: str) -> ConsentNotice | None:
    """The wording an undo of this opt-out shows again: the one agreed before it."""
    ref = event.context.get("notice_before")
    return (notice_by_ref(ref) if ref else None) or current_notice(event.purpose, language)


def can_undo(event: ConsentEvent, *, at: datetime | None = None) -> bool:
    """An opt-out made here, less than the undo window ago, and still the latest answer."""
    at = at or timezone.now()
    if not (
        event.action == Action.WITHDRAW
        and event.purpose in MESSAGE_PURPOSES
        and event.source == Source.PREFERENCE_CENTRE
        and event.applied
        and at - event.recorded_at <= undo_window()
    ):
        return False
    state = ConsentState.objects.filter(contact_id=event.contact_id, purpose=event.purpose).first()
    return state is not None and state.last_event_id == event.pk


def undo_opt_out(
    *, event: ConsentEvent, notice: ConsentNotice | None, evidence: Evidence
) -> ConsentEvent:
    """A new grant with the wording shown again; never a silent restore."""
    with transaction.atomic():
        if not can_undo(event):
            raise InvalidConsent("this opt-out can no longer be undone", code="undo_expired")
        grant = record_consent(
            contact=event.contact,
            purpose=event.purpose,
            action=Action.GRANT,
            source=Source.PREFERENCE_CENTRE,
            notice=notice,
            evidence=with_context(evidence, {**evidence.context, "undoes": str(event.pk)}),
        )
    confirm_on_whatsapp(event.contact, grant)
    return grant


def _already(state: ConsentState | None, status: str) -> ConsentEvent | None:
    """The event that already put `state` in `status`, if it is there."""
    if state is None or state.status != status:
        return None
    return state.last_event


def with_context(evidence: Evidence, context: dict[str, Any]) -> Evidence:
    return Evidence(
        ip=evidence.ip,
        user_agent=evidence.user_agent,
        page_url=evidence.page_url,
        wamid=evidence.wamid,
        prompted_by_wamid=evidence.prompted_by_wamid,
        note=evidence.note,
        context=context,
    )


def resulting_status(event: ConsentEvent) -> str:
    """The state the event left (the current one when it did not apply)."""
    if event.applied:
        return event.status_after
    state = ConsentState.objects.filter(contact_id=event.contact_id, purpose=event.purpose).first()
    return state.status if state else Status.NONE


def confirm_on_whatsapp(contact: Contact, event: ConsentEvent) -> None:
    body = wording.change_confirmation(
        purpose=event.purpose, status=resulting_status(event), paused_until=event.paused_until
    )
    language = translation.get_language()
    transaction.on_commit(lambda: send_change_confirmation(contact, body, language))


def send_change_confirmation(contact: Contact, body: str, language: str) -> None:
    """Free text inside the 24-hour window, else the approved confirmation template.

    A courtesy: the change is recorded whatever happens here.
    """
    try:
        outreach.send_confirmation_text(
            contact=contact,
            body=body,
            template=settings.PREFERENCE_CONFIRMATION_TEMPLATE,
            language=language,
        )
    except Exception:
        logger.warning("WhatsApp confirmation to %s not sent", contact.pk, exc_info=True)


# --- Data-subject access -----------------------------------------------------------


def consent_record(contact: Contact) -> dict[str, Any]:
    """Everything we hold about this person's consent, as plain data."""
    check = verify_contact_ledger(contact)
    states = consent_states(contact)
    return {
        "generated_at": timezone.now().isoformat(),
        "business": settings.BUSINESS_NAME,
        "contact": {
            "id": str(contact.pk),
            "name": contact.name,
            "phone": str(contact.phone) if contact.phone else None,
            "whatsapp_id": contact.wa_id,
            "language": contact.language,
            "created_at": contact.created_at.isoformat(),
        },
        "current_state": {
            purpose: {
                "status": state.status if state else Status.NONE,
                "since": state.since.isoformat() if state and state.since else None,
                "source": state.source if state else None,
                "notice": state.notice.ref if state and state.notice else None,
                "expires_at": state.expires_at.isoformat() if state and state.expires_at else None,
                "paused_until": (
                    state.paused_until.isoformat() if state and state.paused_until else None
                ),
            }
            for purpose, state in states.items()
        },
        "events": [
            {
                "seq": event.seq,
                "purpose": event.purpose,
                "topic": event.topic,
                "action": event.action,
                "source": event.source,
                "occurred_at": event.occurred_at.isoformat(),
                "recorded_at": event.recorded_at.isoformat(),
                "status_after": event.status_after,
                "applied": event.applied,
                "notice": event.notice.ref if event.notice else None,
                "notice_text": event.notice.text if event.notice else None,
                "expires_at": event.expires_at.isoformat() if event.expires_at else None,
                "paused_until": event.paused_until.isoformat() if event.paused_until else None,
                "evidence": event.evidence,
                "hash": event.hash,
                "prev_hash": event.prev_hash,
            }
            for event in ledger(contact)
        ],
        "ledger_intact": check.valid,
    }
