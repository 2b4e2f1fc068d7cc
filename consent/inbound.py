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

from contacts.models import Contact
from contacts.selectors import find_contact
from contacts.services import find_or_create_contact
from whatsapp.events import InboundMessage, SendFailure, StatusUpdate, UserPreference
from whatsapp.exceptions import WhatsAppError
from whatsapp.handlers import on
from whatsapp.models import OutboundMessage

from . import keywords, outreach
from .models import ConsentEvent, ConsentNotice
from .rules import Action, Purpose, Source, Status
from .selectors import consent_states, notice_by_ref
from .services import Evidence, record_consent

log = logging.getLogger(__name__)

CONSENT_BUTTON = re.compile(
    r"^consent:(?P<purposes>[a-z_]+(,[a-z_]+)*):(?P<answer>grant|withdraw)$"
)
STOPPED_MARKETING = 131050


def _sender(event: InboundMessage | UserPreference) -> Contact | None:
    if not (event.wa_id or event.user_id):
        return None
    return find_or_create_contact(
        wa_id=event.wa_id,
        whatsapp_user_id=event.user_id,
        parent_user_id=event.parent_user_id,
        name=event.profile_name,
    )


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
    contact: Contact,
    purposes: list[str],
    source: str,
    event_wamid: str,
    occurred_at,
    prompted_by: str,
    note: str,
    key_prefix: str,
) -> list[ConsentEvent]:
    recorded = []
    for purpose in purposes:
        recorded.append(
            record_consent(
                contact=contact,
                purpose=purpose,
                action=Action.WITHDRAW,
                source=source,
                occurred_at=occurred_at,
                evidence=Evidence(wamid=event_wamid, prompted_by_wamid=prompted_by, note=note),
                idempotency_key=f"{key_prefix}:{purpose}:withdraw",
                keep_if_inapplicable=True,
            )
        )
    return recorded


# --- Reply buttons and template quick replies ------------------------------------------


def _notice_shown(outbound: OutboundMessage | None, purpose: str) -> ConsentNotice | None:
    if outbound is None:
        return None
    for ref in outbound.notice_refs or []:
        if ref.startswith(f"{purpose}/"):
            return notice_by_ref(ref)
    return None


@on("message")
def answer_consent_button(event: InboundMessage) -> None:
    match = CONSENT_BUTTON.match(event.button_id or "")
    if match is None:
        return  # not ours (invitations, campaigns' own buttons, …)
    purposes = [p for p in match["purposes"].split(",") if p in Purpose.values]
    answer = match["answer"]
    contact = _sender(event)
    if contact is None or not purposes:
        return
    key = f"wa:{event.wamid}"
    if _already_recorded(f"{key}:{purposes[0]}:{answer}"):
        return
    outbound = (
        OutboundMessage.objects.filter(wamid=event.context_wamid).first()
        if event.context_wamid
        else None
    )
    if outbound is not None and outbound.contact_id not in (None, contact.pk):
        log.warning("button %s answers a message sent to someone else", event.wamid)
        outbound = None
    note = f"button {event.button_id}"
    # Meta stamps whole seconds: a reply can read as older than the message it
    # answers (and the request before it). It cannot be: it comes after both.
    answered_at = max(event.timestamp, outbound.created_at) if outbound else event.timestamp
    if answer == Action.WITHDRAW:
        _withdraw(
            contact=contact,
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
    if meaning is None and reading.kind == "none":
        return
    contact = _sender(event)
    if contact is None:
        return
    prompted_by = event.context_wamid or _last_message_to(contact, event.timestamp)
    key = f"wa:{event.wamid}"
    if meaning in (keywords.Meaning.STOP, keywords.Meaning.STOP_ALL) or (
        reading and reading.kind == "opt_out"
    ):
        purposes = (
            list(Purpose.values) if meaning == keywords.Meaning.STOP_ALL else [Purpose.MARKETING]
        )
        if _already_recorded(f"{key}:{purposes[0]}:withdraw"):
            return
        how = f"keyword {event.text.strip()[:80]!r}" if meaning else "free text"
        _withdraw(
            contact=contact,
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
        states = consent_states(contact)
        wanted = [
            p
            for p in (Purpose.MARKETING, Purpose.SERVICE)
            if not states[p] or states[p].status != Status.OPTED_IN
        ]
        if wanted:
            _send_opt_in(contact, wanted[:1] if wanted[0] == Purpose.MARKETING else wanted)
        else:
            _reply(contact, _in(contact, lambda: _("You are already subscribed. Thank you!")))
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


def _send_opt_in(contact: Contact, purposes: list[str]) -> None:
    try:
        outreach.send_one_tap_opt_in(contact=contact, purposes=purposes, reason="asked on WhatsApp")
    except (WhatsAppError, outreach.NoNoticeToShow) as error:
        log.warning("one-tap opt-in to %s not sent: %s", contact.pk, error)


def _send_preference_link(contact: Contact) -> None:
    try:
        from consent.links import preference_url
    except ImportError:  # the preference centre is not installed
        return
    url = preference_url(contact)
    _reply(contact, _in(contact, lambda: _("Your preferences: %(url)s") % {"url": url}))


# --- Platform signals: error 131050 and user_preferences ----------------------------------------


@on("status")
def withdraw_on_stopped_marketing_status(event: StatusUpdate) -> None:
    if not event.has_error(STOPPED_MARKETING):
        return
    if not (event.recipient_id or event.recipient_user_id):
        return
    contact = find_or_create_contact(
        wa_id=event.recipient_id, whatsapp_user_id=event.recipient_user_id
    )
    _withdraw(
        contact=contact,
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
    contact = (
        Contact.objects.filter(pk=failure.contact_id).first()
        if failure.contact_id
        else find_contact(wa_id=failure.to, whatsapp_user_id=failure.to)
    )
    if contact is None:
        return
    _withdraw(
        contact=contact,
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
    contact = _sender(event)
    if contact is None:
        return
    stamp = int(event.timestamp.timestamp())
    _withdraw(
        contact=contact,
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
