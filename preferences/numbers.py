"""Marketing per business number, when a stop binds the number it came to
(`CONSENT_STOP_SCOPE=number`): the page shows each number's answer and changes one.

Turning marketing off on a number records a withdraw naming it (`context.sending_number`),
which binds that number only. A grant names no number (the ledger has no grant bound
to one), so turning it on on one number records the grant and then, in the same
transaction, the person's stop on each other number that had one, again: the numbers
they did not choose stay off.
"""

from dataclasses import dataclass

from django.db import transaction

from consent.exceptions import InvalidConsent
from consent.models import ConsentEvent, ConsentNotice
from consent.number_scope import NumberAnswer, is_our_number, marketing_by_number
from consent.rules import Action, Purpose, Source
from consent.selectors import STATUS_BY_REASON, Reason
from consent.services import Evidence, record_consent
from contacts.models import Contact

from . import wording
from .services import confirm_on_whatsapp, is_current_notice, with_context


@dataclass(frozen=True)
class NumberRow:
    """One of our numbers on the person's page."""

    phone_number_id: str
    name: str
    allowed: bool
    status: str
    status_word: str


def number_rows(contact: Contact) -> list[NumberRow]:
    """Each of our numbers with its marketing answer (empty unless the scope is `number`)."""
    rows = []
    for answer in marketing_by_number(contact.pk):
        status = STATUS_BY_REASON.get(answer.decision.reason, "")
        word = wording.status_word(status) if status else ""
        rows.append(
            NumberRow(answer.phone_number_id, answer.name, answer.decision.allowed, status, word)
        )
    return rows


def _check_number(phone_number_id: str) -> None:
    if not is_our_number(phone_number_id):
        raise InvalidConsent(
            "not one of our numbers", code="unknown_sending_number", field="sending_number"
        )


def turn_off_on_number(
    *, contact: Contact, phone_number_id: str, evidence: Evidence
) -> ConsentEvent:
    """A marketing withdraw naming the number: it binds that number only."""
    _check_number(phone_number_id)
    context = {**evidence.context, "sending_number": phone_number_id}
    event = record_consent(
        contact=contact,
        purpose=Purpose.MARKETING,
        action=Action.WITHDRAW,
        source=Source.PREFERENCE_CENTRE,
        evidence=with_context(evidence, context),
    )
    confirm_on_whatsapp(contact, event)
    return event


def turn_on_on_number(
    *, contact: Contact, phone_number_id: str, notice: ConsentNotice, evidence: Evidence
) -> ConsentEvent:
    """A grant with the wording shown, and each other number's stop kept (an opt-out wins)."""
    _check_number(phone_number_id)
    if not is_current_notice(notice):
        raise InvalidConsent(
            "the wording shown is no longer current", code="notice_outdated", field="notice"
        )
    with transaction.atomic():
        stopped_elsewhere: list[NumberAnswer] = [
            answer
            for answer in marketing_by_number(contact.pk)
            if answer.phone_number_id != phone_number_id
            and answer.decision.reason == Reason.OPTED_OUT
        ]
        grant = record_consent(
            contact=contact,
            purpose=Purpose.MARKETING,
            action=Action.GRANT,
            source=Source.PREFERENCE_CENTRE,
            notice=notice,
            evidence=with_context(
                evidence, {**evidence.context, "chosen_for_number": phone_number_id}
            ),
        )
        for answer in stopped_elsewhere:
            record_consent(
                contact=contact,
                purpose=Purpose.MARKETING,
                action=Action.WITHDRAW,
                source=Source.PREFERENCE_CENTRE,
                evidence=with_context(
                    evidence,
                    {
                        **evidence.context,
                        "sending_number": answer.phone_number_id,
                        "kept_when_turning_on": phone_number_id,
                    },
                ),
            )
    confirm_on_whatsapp(contact, grant)
    return grant
