"""Signed preference-centre links.

A token is `<contact id hex>:<timestamp>:<signature>`. The signature is salted
with the contact's `link_secret`, so rotating the secret revokes every link sent
so far, and it carries its signing time, so a link expires after
PREFERENCE_LINK_MAX_AGE_DAYS. The contact id in it is a random UUID: knowing it
without a valid signature gets nothing.
"""

import uuid
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

from contacts.models import Contact

# Unchanged since the links were made in `consent`: links already sent keep working.
SALT = "consent.preference-link"


class BadLink(Exception):
    """The token is malformed, tampered with, revoked or names no contact."""


class ExpiredLink(BadLink):
    """The token was genuine but is older than the allowed age."""


def max_age() -> timedelta:
    return timedelta(days=settings.PREFERENCE_LINK_MAX_AGE_DAYS)


def _signer(link_secret: str) -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=f"{SALT}:{link_secret}")


def preference_token(contact: Contact) -> str:
    return _signer(contact.link_secret).sign(contact.pk.hex)


def preference_path(contact: Contact) -> str:
    return reverse("consent:preferences", kwargs={"token": preference_token(contact)})


def preference_url(contact: Contact) -> str:
    """The absolute link to this contact's preference centre."""
    return f"{settings.SITE_URL}{preference_path(contact)}"


def contact_for_token(token: str) -> Contact:
    """The contact a genuine, unexpired token was made for; BadLink / ExpiredLink otherwise."""
    head, _, _ = (token or "").partition(":")
    try:
        contact_id = uuid.UUID(hex=head)
    except ValueError:
        raise BadLink("malformed token") from None
    contact = Contact.objects.filter(pk=contact_id, erased_at__isnull=True).first()
    # An unknown id is checked against a throw-away secret so it costs the same
    # as a known one.
    secret = contact.link_secret if contact else uuid.uuid4().hex
    try:
        value = _signer(secret).unsign(token, max_age=max_age())
    except signing.SignatureExpired:
        if contact is None:
            raise BadLink("unknown contact") from None
        raise ExpiredLink("link expired") from None
    except signing.BadSignature:
        raise BadLink("bad signature") from None
    if contact is None or value != contact.pk.hex:
        raise BadLink("unknown contact")
    return contact
