"""The person's own copy from the preference centre: asked for on the page, a link sent by
WhatsApp, the link expiring; every request and every download audited.

The link's token is signed with the contact's own link secret (as the preference centre's
is), so rotating that secret ends every link; it expires after PERSON_COPY_LINK_HOURS.
"""

import uuid
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse

from consent.rules import Purpose
from consent.selectors import may_send
from contacts.copies import CopyNotSent
from contacts.models import Contact
from conversation.outreach import address_of, send_confirmation_text
from staff.audit import record_audit

SALT = "integrations.person-copy"


class BadCopyLink(Exception):
    pass


class ExpiredCopyLink(BadCopyLink):
    pass


def _signer(link_secret: str) -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=f"{SALT}:{link_secret}")


def copy_token(contact: Contact) -> str:
    return f"{contact.pk}.{_signer(contact.link_secret).sign(str(contact.pk))}"


def copy_url(contact: Contact) -> str:
    return settings.SITE_URL + reverse("integrations:person_copy", args=[copy_token(contact)])


def contact_for_copy_token(token: str) -> Contact:
    contact_id, _, signed = token.partition(".")
    contact = Contact.objects.filter(pk=contact_id).first() if _uuid(contact_id) else None
    if contact is None or contact.erased_at is not None:
        raise BadCopyLink("no such link")
    try:
        value = _signer(contact.link_secret).unsign(
            signed, max_age=timedelta(hours=settings.PERSON_COPY_LINK_HOURS)
        )
    except signing.SignatureExpired:
        raise ExpiredCopyLink("the link has expired") from None
    except signing.BadSignature:
        raise BadCopyLink("no such link") from None
    if value != str(contact.pk):
        raise BadCopyLink("no such link")
    return contact


def _uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def send_copy_link(contact: Contact) -> None:
    """Queue the link on WhatsApp as a service message, audited in the same transaction."""
    if contact.erased_at is not None:
        raise CopyNotSent("this contact was erased")
    decision = may_send(contact, Purpose.SERVICE)
    if not decision.allowed:
        raise CopyNotSent(f"service messages may not reach this person ({decision.reason})")
    if address_of(contact) is None:
        raise CopyNotSent("this contact has no WhatsApp number or user id")
    link = copy_url(contact)
    with transaction.atomic():
        row = send_confirmation_text(
            contact=contact,
            body=f"Your data, as we hold it: {link}",
            template=settings.PREFERENCE_LINK_TEMPLATE,
        )
        record_audit(
            actor=None,
            action="request_person_copy",
            obj=contact,
            after={"outbound_message": str(row.pk), "asked_from": "preference_centre"},
        )
