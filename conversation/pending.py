"""Web opt-in with double opt-in: requests wait for a WhatsApp confirmation, then lapse."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from consent.models import ConsentEvent, ConsentNotice, ConsentState
from consent.rules import Action, IllegalTransition, Source, Status
from consent.selectors import opted_out_of
from consent.services import Evidence, expire_states, record_consent
from contacts.models import Contact
from contacts.selectors import find_contact_by_phone
from contacts.services import upsert_contact

from . import outreach

logger = logging.getLogger(__name__)


def request_opt_in(
    *,
    phone: str,
    name: str,
    language: str,
    notices: list[ConsentNotice],
    evidence: Evidence,
) -> list[ConsentEvent]:
    """Record a `request` per purpose whose notice the person ticked, then ask on WhatsApp.

    A purpose already opted in is left alone, and so is one the person opted out
    of: anyone can type anyone's number into a form, so after a stop only the
    person, writing START to us, opens the conversation again. For the same reason
    an existing contact's name and language are not changed. Callers answer every
    number alike, so that the form tells nobody who said stop.
    """
    with transaction.atomic():
        contact = find_contact_by_phone(phone)
        if contact is None or contact.is_erased:
            if contact:
                contact, _ = upsert_contact(phone=phone)
            else:
                contact, _ = upsert_contact(phone=phone, name=name, language=language)
        stopped = opted_out_of(contact=contact, purposes=[n.purpose for n in notices])
        requested = []
        for notice in notices:
            if notice.purpose in stopped:
                continue
            try:
                requested.append(
                    record_consent(
                        contact=contact,
                        purpose=notice.purpose,
                        action=Action.REQUEST,
                        source=Source.WEB_FORM,
                        notice=notice,
                        evidence=evidence,
                    )
                )
            except IllegalTransition:
                continue
        if requested:
            purposes = [event.purpose for event in requested]
            transaction.on_commit(lambda: _ask_on_whatsapp(contact, purposes))
    return requested


def _ask_on_whatsapp(contact: Contact, purposes: list[str]) -> None:
    try:
        outreach.send_one_tap_opt_in(contact=contact, purposes=purposes, reason="web_opt_in")
    except Exception:
        # The request stays pending and lapses if never confirmed; staff see it in the admin.
        logger.warning("one-tap opt-in to %s not sent", contact.pk, exc_info=True)


def pending_max_age() -> timedelta:
    return timedelta(hours=settings.OPTIN_PENDING_MAX_AGE_HOURS)


def expire_stale_requests(*, at: datetime | None = None) -> int:
    """Move `pending` states older than the allowed age back to `none`; returns how many."""
    at = at or timezone.now()
    stale = ConsentState.objects.filter(status=Status.PENDING, since__lte=at - pending_max_age())
    return expire_states(stale, at=at, note="opt-in request not confirmed in time")
