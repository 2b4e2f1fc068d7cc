"""A blocked person is never sent anything: the outbox asks just before every message.

Blocking itself is the contact's (`contacts.blocking`); eligibility answers `blocked`
for every purpose (`consent.selectors`). This gate also stops what was queued before
the block, whatever its purpose (replies and opt-in requests included).
"""

from typing import Any

from django.conf import settings
from django.dispatch import receiver

from contacts.models import Contact
from contacts.signals import contact_blocked, contact_unblocked
from whatsapp.delivery import MESSAGE_KINDS, send_gate
from whatsapp.models import OutboundMessage, SendingNumber
from whatsapp.outbox import enqueue_block

from .selectors import Reason

PLATFORM_KINDS = (OutboundMessage.Kind.BLOCK_USERS, OutboundMessage.Kind.UNBLOCK_USERS)


@send_gate
def blocked_gate(row: OutboundMessage) -> str | None:
    # A row with a purpose is answered `blocked` by the consent gate's own query
    # (`conversation.outreach.consent_allows`): the campaign hot path pays nothing more.
    if row.purpose or row.contact_id is None or row.kind not in MESSAGE_KINDS:
        return None
    # One look-up by primary key; a merged duplicate answers with its survivor too.
    found = (
        Contact.objects.filter(pk=row.contact_id)
        .values_list("blocked_at", "merged_into__blocked_at")
        .first()
    )
    if found and (found[0] or found[1]):
        return Reason.BLOCKED
    return None


# --- The platform's own block (POST / DELETE /<PHONE_NUMBER_ID>/block_users) ------------


def our_numbers() -> list[str]:
    """Every business number we send from: the person may have written to any of them."""
    numbers = list(SendingNumber.objects.order_by("pk").values_list("phone_number_id", flat=True))
    default = settings.WHATSAPP_PHONE_NUMBER_ID
    return [*([default] if default and default not in numbers else []), *numbers]


def platform_user(contact: Contact) -> str:
    """How `block_users` names the person: their wa_id, else their phone; "" for neither."""
    return contact.wa_id or contact.phone or ""


def _tell_platform(contact: Contact, *, block: bool) -> list[OutboundMessage]:
    user = platform_user(contact)
    if not user:
        return []  # a business-scoped id only: ours holds, the platform's call takes a number
    why = "staff blocked them" if block else "staff unblocked them"
    return [
        enqueue_block(
            user=user, phone_number_id=number, block=block, contact_id=contact.pk, reason=why
        )
        for number in our_numbers()
    ]


@receiver(contact_blocked, dispatch_uid="consent.block_on_whatsapp")
def block_on_whatsapp(*, contact: Contact, **kwargs: Any) -> None:
    _tell_platform(contact, block=True)


@receiver(contact_unblocked, dispatch_uid="consent.unblock_on_whatsapp")
def unblock_on_whatsapp(*, contact: Contact, **kwargs: Any) -> None:
    _tell_platform(contact, block=False)


def platform_answers(contact: Contact, *, limit: int = 10) -> list[OutboundMessage]:
    """The platform's block and unblock calls for this person, newest first."""
    return list(
        OutboundMessage.objects.filter(contact_id=contact.pk, kind__in=PLATFORM_KINDS).order_by(
            "-created_at"
        )[:limit]
    )
