"""Messages the consent app sends on WhatsApp, each one queued in the outbox.

The one-tap opt-in carries reply buttons (inside the 24-hour window) or an
approved template with quick replies (outside it). Either way the payload ids
name the purpose(s) and the answer, `consent:marketing:grant`, and the outbound
row records the notices shown, so the reply proves the wording the person saw.

Nothing here touches the network: rows are written in the caller's transaction
and delivered after it commits. Consent also answers, for every queued row, whether
it may still go at the moment it is sent (`consent_gate`).
"""

import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from consent.models import ConsentNotice
from consent.preference_links import preference_url
from consent.rules import Purpose
from consent.selectors import (
    Reason,
    current_notice,
    decide,
    may_send,
    may_send_contacts,
    withdrawn_since,
)
from contacts.models import Contact
from contacts.phones import try_normalize_phone
from staff.audit import record_audit
from whatsapp import messages, outbox
from whatsapp.addressing import Address, chat_link, whatsapp_address
from whatsapp.delivery import MESSAGE_KINDS, send_gate
from whatsapp.exceptions import InvalidRecipient
from whatsapp.models import OutboundMessage

from . import sql

GRANT, WITHDRAW = "grant", "withdraw"
# The opt-in keyword every language's seeded list answers, as our replies say it
# ("Reply START to opt back in").
START = "START"

# Button titles (≤ 20 characters) and the question, per language; English is the fallback.
_WORDS = {
    "en": {
        "ask": "May we send you WhatsApp messages?",
        "yes": "Yes, opt in",
        "yes_marketing": "Yes to offers",
        "yes_service": "Yes to updates",
        "no": "No thanks",
        "footer": "Reply STOP at any time to opt out.",
        "preferences": "Your messaging choices, to see or change at any time:",
    },
    "es": {
        "ask": "¿Podemos enviarte mensajes de WhatsApp?",
        "yes": "Sí, acepto",
        "yes_marketing": "Sí a ofertas",
        "yes_service": "Sí a avisos",
        "no": "No, gracias",
        "footer": "Responde BAJA cuando quieras darte de baja.",
        "preferences": "Tus preferencias de mensajes, para verlas o cambiarlas cuando quieras:",
    },
}


class NoNoticeToShow(ValueError):
    """No published notice for a purpose: nobody may be asked without the wording."""


class LinkNotSent(ValueError):
    """The preference link cannot go to this person now (the reason says why)."""


def payload_id(purposes: list[str], answer: str) -> str:
    """`consent:marketing:grant`, or `consent:marketing,service:withdraw` for several."""
    return f"consent:{','.join(purposes)}:{answer}"


def address_of(contact: Contact) -> Address | None:
    """Where WhatsApp messages to this contact go (None: no id we can send to)."""
    return whatsapp_address(
        phone=contact.phone,
        wa_id=contact.wa_id,
        user_id=contact.whatsapp_user_id,
        parent_user_id=contact.parent_user_id,
    )


def require_address(contact: Contact) -> Address:
    address = address_of(contact)
    if address is None:
        raise InvalidRecipient(f"contact {contact.pk} has no WhatsApp number or user id")
    return address


def _words(language: str) -> dict[str, str]:
    return _WORDS.get((language or "en").split("-")[0], _WORDS["en"])


def _notices(contact: Contact, purposes: list[str]) -> list[ConsentNotice]:
    notices = []
    for purpose in purposes:
        notice = current_notice(Purpose(purpose), contact.language)
        if notice is None:
            raise NoNoticeToShow(f"no published {purpose} notice to show")
        notices.append(notice)
    return notices


def one_tap_opt_in(
    *,
    contact: Contact,
    purposes: list[str],
    reason: str = "",
    template_name: str = "",
    origin: str | None = None,
    in_window: bool | None = None,
    fallback: bool = True,
    purpose: str = "",
    row_id: uuid.UUID | None = None,
) -> OutboundMessage:
    """The unsaved outbox row asking for consent to `purposes` with one tap.

    Outside the 24-hour window it is the approved template `template_name`
    (default: WHATSAPP_OPT_IN_TEMPLATE); inside it, reply buttons that fall back
    to that template if the window has closed by the time it goes (unless
    `fallback` is False: then nothing goes).
    """
    purposes = list(dict.fromkeys(Purpose(p).value for p in purposes))
    if not purposes:
        raise ValueError("name at least one purpose")
    address = require_address(contact)
    notices = _notices(contact, purposes)
    refs = [n.ref for n in notices]
    words = _words(notices[0].language)
    if len(purposes) == 1:
        choices = [(payload_id(purposes, GRANT), words["yes"])]
    else:
        choices = [(payload_id([p], GRANT), words[f"yes_{p}"]) for p in purposes[:2]]
    choices.append((payload_id(purposes, WITHDRAW), words["no"]))
    # Only an approved template may go outside the window; its body shows each notice.
    template = messages.template(
        address,
        template_name or settings.WHATSAPP_OPT_IN_TEMPLATE,
        notices[0].language,
        [n.text for n in notices],
        [payload for payload, _ in choices],
    )
    if in_window is None:
        in_window = messages.in_service_window(address)
    common: dict[str, Any] = {
        "to": address.value,
        "contact_id": contact.pk,
        "reason": reason,
        "origin": origin,
        "notice_refs": refs,
        "purpose": purpose,
        "row_id": row_id,
    }
    if not in_window:
        return outbox.new_row(kind=OutboundMessage.Kind.TEMPLATE, payload=template, **common)
    body = "\n\n".join([words["ask"], *(n.text for n in notices)])
    return outbox.new_row(
        kind=OutboundMessage.Kind.BUTTONS,
        payload=messages.buttons(address, body, choices, words["footer"]),
        fallback_payload=template if fallback else None,
        **common,
    )


def reply_with_one_tap_opt_in(
    *, contact: Contact, purposes: list[str], reason: str = ""
) -> OutboundMessage:
    """The one-tap opt-in as the answer to the person's own message (START, a stale button).

    Reply buttons inside the 24-hour window that message opened, and nothing else: no
    template fallback, so an answer processed or delivered after the window closed
    (a late webhook, an outage) reaches nobody. Raises OutsideServiceWindow then.
    """
    messages.require_window(require_address(contact))
    return outbox.enqueue_row(
        one_tap_opt_in(
            contact=contact, purposes=purposes, reason=reason, in_window=True, fallback=False
        )
    )


def send_one_tap_opt_in(
    *,
    contact: Contact,
    purposes: list[str],
    reason: str = "",
    template_name: str = "",
    origin: str | None = None,
) -> OutboundMessage:
    """Queue the one-tap opt-in (see `one_tap_opt_in`); returns the outbox row."""
    return outbox.enqueue_row(
        one_tap_opt_in(
            contact=contact,
            purposes=purposes,
            reason=reason,
            template_name=template_name,
            origin=origin,
        )
    )


def start_link() -> str | None:
    """A link that opens a WhatsApp chat with us, START typed in; None without our number.

    The one way back after a stop: the person writes, then we answer inside that
    window. Only a valid WHATSAPP_DISPLAY_PHONE_NUMBER makes a link (the system check
    names a wrong one): never a link to nowhere.
    """
    phone = try_normalize_phone(settings.WHATSAPP_DISPLAY_PHONE_NUMBER)
    return chat_link(phone, START) if phone else None


def send_confirmation_text(
    *, contact: Contact, body: str, template: str = "", language: str = ""
) -> OutboundMessage:
    """A short free-form reply; outside the window, the approved `template` carrying it.

    Without a template, outside the window raises OutsideServiceWindow.
    """
    address = require_address(contact)
    fallback = None
    if template:
        fallback = messages.template(address, template, language or contact.language, [body])
    return outbox.enqueue_text(address=address, body=body, contact_id=contact.pk, fallback=fallback)


def send_preference_link(*, contact: Contact, actor: Any = None) -> OutboundMessage:
    """Queue the person's preference-centre link on WhatsApp, as a service message.

    Only to someone service messages may reach now (and the send gate asks again at
    send); outside the 24-hour window the approved PREFERENCE_LINK_TEMPLATE carries the
    link. Staff sending it (`actor`) get an audit row in the same transaction.
    """
    link = None if contact.erased_at else preference_url(contact)
    if link is None:
        raise LinkNotSent("this contact has no preference link")
    decision = may_send(contact, Purpose.SERVICE)
    if not decision.allowed:
        raise LinkNotSent(f"service messages may not be sent to this person ({decision.reason})")
    address = require_address(contact)
    language = contact.language or "en"
    fallback = messages.template(address, settings.PREFERENCE_LINK_TEMPLATE, language, [link])
    with transaction.atomic():
        row = outbox.enqueue_text(
            address=address,
            body=f"{_words(language)['preferences']} {link}",
            fallback=fallback,
            contact_id=contact.pk,
            purpose=Purpose.SERVICE,
            reason="preference link",
        )
        if actor is not None:
            record_audit(
                actor=actor,
                action="send_preference_link",
                obj=contact,
                after={"outbound_message": str(row.pk)},
            )
    return row


@send_gate
def consent_gate(row: OutboundMessage) -> str | None:
    """Asked by the outbox just before each row goes: None, or why it may not.

    A row with a purpose goes only if that purpose may be sent now (`consent_allows`).
    A message with none (a reply, an opt-in request, a group's invite link) is skipped
    when the person withdrew after it was queued: what it asks about, if it asks for
    consent (any purpose, if it asks about several), and service in any case ("STOP
    ALL" stops everything queued before it). A withdraw recorded before the row was
    queued (a STOP, then START) does not hold back the answer queued after it.
    """
    if row.purpose:
        return consent_allows(row.contact_id, row.purpose)
    if row.contact_id is None or row.kind not in MESSAGE_KINDS:
        return None
    asked = {ref.split("/", 1)[0] for ref in row.notice_refs or []}
    purposes = None if len(asked) > 1 else sorted(asked | {Purpose.SERVICE.value})
    if withdrawn_since(contact_id=row.contact_id, since=row.created_at, purposes=purposes):
        return Reason.WITHDRAWN_AFTER_QUEUED
    return None


def consent_allows(contact_id: Any, purpose: str) -> str | None:
    """Whether a row with `purpose` may go to this contact now: None, or why not.

    The hot path of every campaign send: one indexed query compiled once, and
    `decide()`, the one rule. A merged duplicate answers through `may_send_contacts`.
    """
    if contact_id is None:
        return Reason.UNKNOWN_CONTACT
    row = sql.consent_gate_row(contact_id, purpose)
    if row is None:
        return Reason.UNKNOWN_CONTACT
    if row.merged_into:
        decision = may_send_contacts([contact_id], purpose)[contact_id]
    else:
        decision = decide(
            row.status,
            expires_at=row.expires_at,
            paused_until=row.paused_until,
            at=timezone.now(),
        )
    return None if decision.allowed else decision.reason
