"""Ask a person known only by a business-scoped id for their number, and take it when they
share it.

Since 2026 a person with a WhatsApp username may write to us with no phone number at all
(`from_user_id` only). Staff send the approved template whose REQUEST_CONTACT_INFO button
asks for it (WHATSAPP_CONTACT_REQUEST_TEMPLATE); the person's tap comes back as a
`contacts` message whose contact says `"origin": "contact_request"`. The number is then
attached to the contact that asked, through the identity resolver: the history is kept
(`IdentityChange`, source `contact_request`), and when another contact already holds
that number, nothing is moved, the pair is listed as a likely duplicate, and each gets
the other's opt-outs and pauses (an opt-out always wins).

The template goes under the consent its category needs (a utility one: service). The
platform answers 131062 when a template type cannot go to a business-scoped id: the
request fails there, kept on its outbox row for staff to read, and is never retried.
"""

import logging
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction

from consent.services import carry_restrictive_states
from contacts.models import Contact
from contacts.selectors import Identifiers, resolve_contacts
from contacts.services import change_identifier
from staff.audit import record_audit
from whatsapp import outbox
from whatsapp.events import InboundMessage
from whatsapp.handlers import on
from whatsapp.message_templates import approved_templates, purpose_of
from whatsapp.models import OutboundMessage

from .outreach import require_address

log = logging.getLogger(__name__)

ORIGIN = "contact_request"
SOURCE = "contact_request"


class NumberNotAsked(Exception):
    """Why the request for a number was not sent."""


def _origin_prefix(contact: Contact) -> str:
    return f"{ORIGIN}:{contact.pk}:"


def may_ask_for_number(contact: Contact) -> bool:
    return bool(contact.whatsapp_user_id) and not (contact.phone or contact.wa_id)


def _request_template(contact: Contact) -> tuple[str, str]:
    """(language, purpose) of the approved request template; the contact's language first."""
    name = settings.WHATSAPP_CONTACT_REQUEST_TEMPLATE
    rows = list(approved_templates().filter(name=name).values_list("language", "category"))
    if not rows:
        raise NumberNotAsked(f"{name} is not an approved template (sync the templates first)")
    wanted = (contact.language or "").replace("-", "_")
    rows.sort(key=lambda row: (not row[0].startswith(wanted or "\0"), row[0]))
    language, category = rows[0]
    purpose = purpose_of(category)
    if purpose is None:
        raise NumberNotAsked(f"{name} has a category we do not know ({category})")
    return language, purpose


def ask_for_number(*, contact: Contact, actor: Any) -> OutboundMessage:
    """Queue the contact-request template to a person known by a business-scoped id only."""
    if not may_ask_for_number(contact):
        raise NumberNotAsked("only a person known by a business-scoped id only is asked")
    if contact.blocked_at is not None or contact.erased_at is not None:
        raise NumberNotAsked("nothing is sent to a blocked or erased person")
    language, purpose = _request_template(contact)
    with transaction.atomic():
        row = outbox.enqueue_template(
            address=require_address(contact),
            name=settings.WHATSAPP_CONTACT_REQUEST_TEMPLATE,
            language=language,
            contact_id=contact.pk,
            purpose=purpose,
            reason="staff asked for their number",
            origin=f"{_origin_prefix(contact)}{uuid.uuid4()}",
        )
        record_audit(
            actor=actor,
            action="ask_for_number",
            obj=contact,
            after={"template": settings.WHATSAPP_CONTACT_REQUEST_TEMPLATE, "outbound": str(row.pk)},
        )
    return row


def number_requests(contact: Contact, *, limit: int = 5) -> list[OutboundMessage]:
    """The requests sent to this person, newest first, with what WhatsApp answered."""
    return list(
        OutboundMessage.objects.filter(origin__startswith=_origin_prefix(contact)).order_by(
            "-created_at"
        )[:limit]
    )


# --- The reply: a `contacts` message with origin contact_request -----------------------------


def _dicts(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _cards(event: InboundMessage) -> list[dict]:
    """The contact cards of the message (hostile shapes give none)."""
    entries = _dicts(event.raw.get("entry"))
    changes = _dicts(entries[0].get("changes")) if entries else []
    value = changes[0].get("value") if changes else None
    messages = _dicts(value.get("messages")) if isinstance(value, dict) else []
    return _dicts(messages[0].get("contacts")) if messages else []


def shared_number(event: InboundMessage) -> str:
    """The wa_id (digits) the person shared by tapping the button, or ""."""
    for card in _cards(event):
        if card.get("origin") != ORIGIN:
            continue
        for phone in _dicts(card.get("phones")):
            shared = str(phone.get("wa_id") or phone.get("phone") or "")
            digits = "".join(c for c in shared if c.isdigit())
            if digits:
                return digits
    return ""


@on("message")
def attach_shared_number(event: InboundMessage) -> None:
    """The number a person shared on our request joins the contact that asked."""
    if event.type != "contacts" or not event.user_id:
        return
    wa_id = shared_number(event)
    if not wa_id:
        return
    asked = resolve_contacts(Identifiers(whatsapp_user_id=event.user_id))
    if not asked:
        log.info("a shared number from %s, whom we do not know", event.user_id)
        return
    with transaction.atomic():
        _attach(asked[0], wa_id, event)


def _attach(contact: Contact, wa_id: str, event: InboundMessage) -> None:
    changed = change_identifier(
        contact=contact,
        field="wa_id",
        new_value=wa_id,
        source=SOURCE,
        occurred_at=event.timestamp,
        wamid=event.wamid,
    )
    why = f"{SOURCE}: {event.user_id} shared {wa_id} {event.wamid}".strip()
    for holder in changed.holders:
        # The number's own record says no: that answer wins for the person who shared it.
        carry_restrictive_states(source_contact=holder, to=[contact], why=why)
    if changed.holders:
        carry_restrictive_states(source_contact=contact, to=changed.holders, why=why)
