"""WhatsApp webhook handlers owned by consent (registered from ConsentConfig.ready).

Every answer becomes a ledger event dated by the message's own timestamp, so a
late or out-of-order delivery is kept as evidence without undoing a newer
answer (record_consent stores it with applied=False). Idempotency keys built
from the WhatsApp ids make a re-run of the same event record nothing new.
"""

import logging
import re

from django.utils.translation import gettext as _
from django.utils.translation import override

from consent.models import ConsentEvent, ConsentNotice
from consent.preference_links import preference_url
from consent.rules import Action, Purpose, Source, Status
from consent.selectors import consent_states, notice_by_ref
from consent.services import Evidence, carry_restrictive_states, record_consent, record_opt_out
from contacts.models import Contact
from contacts.selectors import Identifiers, resolve_contacts
from contacts.services import Resolution, change_identifier, resolve_or_create_contacts
from whatsapp.events import (
    IdentityUpdate,
    InboundMessage,
    SendFailure,
    StatusUpdate,
    UserPreference,
)
from whatsapp.exceptions import WhatsAppError
from whatsapp.handlers import judges_opt_out, on
from whatsapp.models import OutboundMessage
from whatsapp.parsing import parse_message, parse_status, parse_user_preference

from . import calls, keywords, outreach

log = logging.getLogger(__name__)

CONSENT_BUTTON = re.compile(
    r"^consent:(?P<purposes>[a-z_]+(,[a-z_]+)*):(?P<answer>grant|withdraw)$"
)
STOPPED_MARKETING = 131050


def _identifiers(event: InboundMessage | UserPreference) -> Identifiers:
    return Identifiers(
        wa_id=event.wa_id,
        whatsapp_user_id=event.user_id,
        parent_user_id=event.parent_user_id,
        username=getattr(event, "username", None),
    )


def _senders(event: InboundMessage | UserPreference) -> Resolution | None:
    """Every contact the sender's identifiers name (created if unknown), most specific first."""
    ids = _identifiers(event)
    if not (ids.wa_id or ids.whatsapp_user_id or ids.parent_user_id):
        return None
    return resolve_or_create_contacts(ids, name=event.profile_name)


def _already_recorded(key: str) -> bool:
    return ConsentEvent.objects.filter(idempotency_key=key).exists()


def _reply(contact: Contact, body: str) -> None:
    # The answer is recorded whatever happens to the courtesy reply.
    try:
        outreach.send_confirmation_text(contact=contact, body=body)
    except WhatsAppError as error:
        log.warning("confirmation to %s not sent: %s", contact.pk, error)


def _last_message_to(contact: Contact, before) -> str:
    last = (
        OutboundMessage.objects.filter(
            contact_id=contact.pk, wamid__isnull=False, created_at__lte=before
        )
        .order_by("-created_at")
        .values_list("wamid", flat=True)
        .first()
    )
    return last or ""


def _withdraw(
    *,
    contacts: list[Contact],
    purposes: list[str],
    source: str,
    event_wamid: str,
    occurred_at,
    prompted_by: str,
    note: str,
    key_prefix: str,
) -> list[ConsentEvent]:
    """The opt-out, for every contact the sender's identifiers named."""
    return record_opt_out(
        contacts=contacts,
        purposes=purposes,
        source=source,
        occurred_at=occurred_at,
        evidence=Evidence(wamid=event_wamid, prompted_by_wamid=prompted_by, note=note),
        idempotency_key=key_prefix,
    )


# --- Reply buttons and template quick replies ------------------------------------------


def _notice_shown(outbound: OutboundMessage | None, purpose: str) -> ConsentNotice | None:
    if outbound is None:
        return None
    for ref in outbound.notice_refs or []:
        if ref.startswith(f"{purpose}/"):
            return notice_by_ref(ref)
    return None


def _answered_message(event: InboundMessage, contact: Contact) -> OutboundMessage | None:
    """The message of ours a button answers, when it was sent to this contact."""
    if not event.context_wamid:
        return None
    outbound = OutboundMessage.objects.filter(wamid=event.context_wamid).first()
    if outbound is not None and outbound.contact_id not in (None, contact.pk):
        log.warning("button %s answers a message sent to someone else", event.wamid)
        return None
    return outbound


@on("message")
def answer_consent_button(event: InboundMessage) -> None:
    match = CONSENT_BUTTON.match(event.button_id or "")
    if match is None:
        return  # not ours (invitations, campaigns' own buttons, …)
    purposes = [p for p in match["purposes"].split(",") if p in Purpose.values]
    answer = match["answer"]
    senders = _senders(event)
    if senders is None or not purposes:
        return
    contact = senders.primary
    key = f"wa:{event.wamid}"
    if _already_recorded(f"{key}:{purposes[0]}:{answer}"):
        return
    outbound = _answered_message(event, contact)
    note = f"button {event.button_id}"
    # Meta stamps whole seconds: a reply can read as older than the message it
    # answers (and the request before it). It cannot be: it comes after both.
    answered_at = max(event.timestamp, outbound.created_at) if outbound else event.timestamp
    if answer == Action.WITHDRAW:
        _withdraw(
            contacts=senders.contacts,
            purposes=purposes,
            source=Source.WHATSAPP_BUTTON,
            event_wamid=event.wamid,
            occurred_at=answered_at,
            prompted_by=event.context_wamid,
            note=note,
            key_prefix=key,
        )
        _reply(contact, _opted_out_text(contact, purposes))
        return
    granted = []
    for purpose in purposes:
        notice = _notice_shown(outbound, purpose)
        if notice is None:
            # No wording, no opt-in: we cannot prove what this person saw.
            log.warning("grant button %s without a known notice for %s", event.wamid, purpose)
            continue
        record_consent(
            contact=contact,
            purpose=purpose,
            action=Action.GRANT,
            source=Source.WHATSAPP_BUTTON,
            notice=notice,
            occurred_at=answered_at,
            evidence=Evidence(wamid=event.wamid, prompted_by_wamid=event.context_wamid, note=note),
            idempotency_key=f"{key}:{purpose}:grant",
        )
        granted.append(purpose)
    if granted:
        _reply(contact, _opted_in_text(contact, granted))
    else:
        # Show the current wording and let them tap again.
        _send_opt_in(contact, purposes)


# --- Keywords and free text -------------------------------------------------------------------


@on("message")
def answer_keyword(event: InboundMessage) -> None:
    if event.type != "text" or event.button_id or not event.text.strip():
        return
    meaning = keywords.match_keyword(event.text)
    reading = None if meaning else keywords.read_free_text(event.text)
    if meaning is None and reading is not None and reading.kind == "none":
        return
    senders = _senders(event)
    if senders is None:
        return
    contact = senders.primary
    prompted_by = event.context_wamid or _last_message_to(contact, event.timestamp)
    key = f"wa:{event.wamid}"
    if event.group_id:
        # Written in a group, maybe to the others: never a 1:1 keyword action,
        # but a person looks at it, so a real opt-out is not missed.
        keywords.queue_for_review(
            contact=contact,
            wamid=event.wamid,
            text=event.text,
            matched=f"in group {event.group_id}: "
            + (meaning or (reading and reading.matched) or "")[:150],
            received_at=event.timestamp,
            prompted_by_wamid=prompted_by,
        )
        return
    if meaning in (keywords.Meaning.STOP, keywords.Meaning.STOP_ALL) or (
        reading and reading.kind == "opt_out"
    ):
        purposes: list[str] = (
            list(Purpose.values) if meaning == keywords.Meaning.STOP_ALL else [Purpose.MARKETING]
        )
        if _already_recorded(f"{key}:{purposes[0]}:withdraw"):
            return
        how = f"keyword {event.text.strip()[:80]!r}" if meaning else "free text"
        _withdraw(
            contacts=senders.contacts,
            purposes=purposes,
            source=Source.WHATSAPP_KEYWORD,
            event_wamid=event.wamid,
            occurred_at=event.timestamp,
            prompted_by=prompted_by,
            note=f"{how}: {event.text[:500]}",
            key_prefix=key,
        )
        _reply(contact, _opted_out_text(contact, purposes))
    elif meaning == keywords.Meaning.START:
        _answer_start(contact)
    elif meaning == keywords.Meaning.PREFERENCES:
        _send_preference_link(contact)
    elif reading and reading.kind == "review":
        keywords.queue_for_review(
            contact=contact,
            wamid=event.wamid,
            text=event.text,
            matched=reading.matched,
            received_at=event.timestamp,
            prompted_by_wamid=prompted_by,
        )


def _answer_start(contact: Contact) -> None:
    """START: the one-tap opt-in for what the person is not opted in to, else thanks."""
    states = consent_states(contact)
    wanted: list[str] = [
        p
        for p in (Purpose.MARKETING, Purpose.SERVICE)
        if not (state := states[p]) or state.status != Status.OPTED_IN
    ]
    if wanted:
        _send_opt_in(contact, wanted[:1] if wanted[0] == Purpose.MARKETING else wanted)
    else:
        _reply(contact, _in(contact, lambda: _("You are already subscribed. Thank you!")))


def _send_opt_in(contact: Contact, purposes: list[str]) -> None:
    # Only ever an answer inside the window the person's message opened: never a
    # template later, and never an opt-in without their tap.
    try:
        outreach.reply_with_one_tap_opt_in(
            contact=contact, purposes=purposes, reason="asked on WhatsApp"
        )
    except (WhatsAppError, outreach.NoNoticeToShow) as error:
        log.warning("one-tap opt-in to %s not sent: %s", contact.pk, error)


def _send_preference_link(contact: Contact) -> None:
    url = preference_url(contact)
    if url is None:
        return
    _reply(contact, _in(contact, lambda: _("Your preferences: %(url)s") % {"url": url}))


# --- Platform signals: error 131050 and user_preferences ----------------------------------------


@on("status")
def withdraw_on_stopped_marketing_status(event: StatusUpdate) -> None:
    if not event.has_error(STOPPED_MARKETING):
        return
    if not (event.recipient_id or event.recipient_user_id):
        return
    recipients = resolve_or_create_contacts(
        Identifiers(wa_id=event.recipient_id, whatsapp_user_id=event.recipient_user_id)
    )
    _withdraw(
        contacts=recipients.contacts,
        purposes=[Purpose.MARKETING],
        source=Source.WHATSAPP_PLATFORM,
        event_wamid="",
        occurred_at=event.timestamp,
        prompted_by=event.wamid,
        note="delivery failed with 131050: the person stopped marketing messages",
        key_prefix=f"wa:status:{event.wamid}:131050",
    )


@on("send_failed")
def withdraw_on_stopped_marketing_send(failure: SendFailure) -> None:
    if failure.code != STOPPED_MARKETING:
        return
    contacts = (
        list(Contact.objects.filter(pk=failure.contact_id))
        if failure.contact_id
        else resolve_contacts(Identifiers(wa_id=failure.to, whatsapp_user_id=failure.to))
    )
    if not contacts:
        return
    _withdraw(
        contacts=contacts,
        purposes=[Purpose.MARKETING],
        source=Source.WHATSAPP_PLATFORM,
        event_wamid="",
        occurred_at=None,
        prompted_by="",
        note=f"send refused with 131050 (outbound {failure.outbound_id})",
        key_prefix=f"wa:send:{failure.outbound_id}:131050",
    )


@on("user_preference")
def follow_marketing_preference(event: UserPreference) -> None:
    if event.category != "marketing_messages":
        return
    if event.value != "stop":
        # `resume` is not an opt-in: only an answer to our notice is. The raw
        # signal stays stored with the webhook event as evidence.
        log.info("marketing %s from %s kept as evidence only", event.value, event.wa_id)
        return
    senders = _senders(event)
    if senders is None:
        return
    stamp = int(event.timestamp.timestamp())
    contact = senders.primary
    _withdraw(
        contacts=senders.contacts,
        purposes=[Purpose.MARKETING],
        source=Source.WHATSAPP_PLATFORM,
        event_wamid="",
        occurred_at=event.timestamp,
        prompted_by="",
        note=f"user_preferences marketing_messages stop: {event.detail[:300]}",
        key_prefix=f"wa:pref:{contact.pk}:{stamp}",
    )


# --- Replies ------------------------------------------------------------------------------------


def _in(contact: Contact, text) -> str:
    with override((contact.language or "en").split("-")[0]):
        return text()


def _opted_out_text(contact: Contact, purposes: list[str]) -> str:
    if set(purposes) >= set(Purpose.values):
        return _in(
            contact,
            lambda: _(
                "You will no longer receive WhatsApp messages from us. Reply START to opt back in."
            ),
        )
    return _in(
        contact,
        lambda: _(
            "You will no longer receive offers from us on WhatsApp. Reply START to opt back in."
        ),
    )


def _opted_in_text(contact: Contact, purposes: list[str]) -> str:
    return _in(
        contact,
        lambda: _("Thank you, your choice is saved. Reply STOP at any time to opt out."),
    )


# --- Identity changes the platform announces -----------------------------------------------------

IDENTITY_CHANGES = {
    "user_changed_number": ("wa_id", "new_wa_id"),
    "user_changed_user_id": ("whatsapp_user_id", "new_user_id"),
}


@on("message")
def follow_identity_change(event: InboundMessage) -> None:
    """A person changed number (or business-scoped id): follow them, opt-outs included.

    The identifier moves on the same contact, so its states go with it; where
    another contact already holds the new one, that contact gets the opt-outs
    and pauses too, and the pair is listed as a likely duplicate.
    """
    if not event.is_system or event.system_type not in IDENTITY_CHANGES:
        return
    field, attribute = IDENTITY_CHANGES[event.system_type]
    new_value = getattr(event, attribute)
    if not new_value:
        log.warning("%s %s names no new identifier", event.system_type, event.wamid)
        return
    old = Identifiers(wa_id=event.wa_id, whatsapp_user_id=event.old_user_id or event.user_id)
    _follow(old, field, new_value, event.system_type, event.timestamp, event.wamid)
    if event.new_wa_id and field != "wa_id":
        # A user id change that also names the (shared) phone: keep that current too.
        _follow(old, "wa_id", event.new_wa_id, event.system_type, event.timestamp, event.wamid)


@on("identity_update")
def follow_user_id_update(event: IdentityUpdate) -> None:
    """`user_id_update`: the business-scoped id changed; the person (and their opt-outs) stay."""
    if not event.current_user_id:
        return
    old = Identifiers(wa_id=event.wa_id, whatsapp_user_id=event.previous_user_id)
    _follow(old, "whatsapp_user_id", event.current_user_id, "user_id_update", event.timestamp, "")


def _follow(old: Identifiers, field: str, new_value: str, source: str, at, wamid: str) -> None:
    if not old:
        return
    known = resolve_contacts(old)
    if not known:
        return  # nobody we know: nothing to carry
    contact = known[0]
    changed = change_identifier(
        contact=contact,
        field=field,
        new_value=new_value,
        source=source,
        occurred_at=at,
        wamid=wamid,
    )
    if changed.holders:
        carry_restrictive_states(
            source_contact=contact,
            to=changed.holders,
            why=f"{source}: {field} is now {new_value} {wamid}".strip(),
        )


# --- Judging a failed item: may it be an opt-out? ------------------------------------------------


@judges_opt_out
def may_be_opt_out(kind: str, payload: dict) -> bool:
    """Said of an item whose processing failed, so staff see it; doubt answers yes."""
    if kind == "user_preference":
        pref = parse_user_preference(payload)
        return pref.category == "marketing_messages" and pref.value == "stop"
    if kind == "status":
        return parse_status(payload).has_error(STOPPED_MARKETING)
    if kind == "message":
        message = parse_message(payload)
        if message.call_permission is not None:
            return calls.may_withdraw_calls(message)
        if message.button_id:
            match = CONSENT_BUTTON.match(message.button_id)
            return bool(match and match["answer"] == Action.WITHDRAW)
        if message.type != "text":
            return False
        meaning = keywords.match_keyword(message.text)
        if meaning in (keywords.Meaning.STOP, keywords.Meaning.STOP_ALL):
            return True
        return meaning is None and keywords.read_free_text(message.text).kind != "none"
    return kind == "malformed"
