"""The marketing stop per business number, when the business says so (CONSENT_STOP_SCOPE).

`business` (default): a stop on any number stops all: the stored state answers, as ever.
`number`: a marketing withdraw that came through a number (its event's chained
`context.sending_number`) binds that number only. Asked for another number, the
person's answer is the last applied marketing event that is not a stop bound to a
different number. A withdraw that names no number (a form, the API, staff) binds all.

Only an `opted_out` answer is looked at again, and only when a number is named: every
other answer is the stored state's, so this costs nothing on the usual path.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from contacts.models import Contact
from contacts.phones import InvalidPhone, normalize_phone, phone_hash, try_normalize_phone
from whatsapp.models import SendingNumber

from .models import ConsentEvent
from .rules import Action, Purpose
from .selectors import E164, Decision, Reason, WhatsAppUserId, decide, may_send, may_send_contacts


def per_number() -> bool:
    return settings.CONSENT_STOP_SCOPE == "number"


def _binds_elsewhere(action: str, context: Any, sending_number: str) -> bool:
    number = context.get("sending_number") if isinstance(context, dict) else None
    return action == Action.WITHDRAW and bool(number) and number != sending_number


def decisions_through(
    contact_ids: Iterable[Any], sending_number: str, at: datetime | None = None
) -> dict[Any, Decision]:
    """Marketing decisions for these contacts as seen from one number (one query)."""
    at = at or timezone.now()
    last: dict[Any, Any] = {}
    events = (
        ConsentEvent.objects.filter(
            contact_id__in=list(contact_ids), purpose=Purpose.MARKETING, applied=True
        )
        .order_by("contact_id", "seq")
        .values("contact_id", "action", "context", "status_after", "expires_at", "paused_until")
    )
    for event in events:
        if not _binds_elsewhere(event["action"], event["context"], sending_number):
            last[event["contact_id"]] = event
    return {
        pk: decide(
            event["status_after"],
            expires_at=event["expires_at"],
            paused_until=event["paused_until"],
            at=at,
        )
        for pk, event in last.items()
    }


def through_number(
    decision: Decision, *, contact_id: Any, purpose: str, sending_number: str
) -> Decision:
    """`decision` (the stored state's), or the answer for `sending_number` in `number` scope."""
    if (
        not per_number()
        or not sending_number
        or purpose != Purpose.MARKETING
        or decision.reason != Reason.OPTED_OUT
        or contact_id is None
    ):
        return decision
    return decisions_through([contact_id], sending_number).get(contact_id, decision)


def reason_through_number(
    reason: str | None, *, contact_id: Any, purpose: str, sending_number: str
) -> str | None:
    """The send gate's form: None (may go) or the refusal, for the row's own number."""
    if reason != Reason.OPTED_OUT:
        return reason
    decision = through_number(
        Decision(False, reason),
        contact_id=contact_id,
        purpose=purpose,
        sending_number=sending_number,
    )
    return None if decision.allowed else decision.reason


def many_through_number(
    decisions: dict[Any, Decision], *, purpose: str, sending_number: str
) -> dict[Any, Decision]:
    """`may_send_contacts` answers, the opted-out ones asked again for `sending_number`."""
    if not per_number() or not sending_number or purpose != Purpose.MARKETING:
        return decisions
    stopped = [pk for pk, d in decisions.items() if d.reason == Reason.OPTED_OUT]
    if not stopped:
        return decisions
    return {**decisions, **decisions_through(stopped, sending_number)}


def _contact_ids(column: str, values: list[str]) -> dict[str, Any]:
    """value → the id of the person (the survivor of a merged duplicate)."""
    rows = Contact.objects.filter(**{f"{column}__in": values}).values_list(
        column, "merged_into_id", "pk"
    )
    return {value: merged or pk for value, merged, pk in rows}


def may_send_through_number(who: str, purpose: str, *, sending_number: str = "") -> Decision:
    """`may_send` for a phone or WhatsAppUserId, answered for `sending_number` when it applies."""
    decision = may_send(who, purpose)
    if decision.reason != Reason.OPTED_OUT or not sending_number or not per_number():
        return decision
    if isinstance(who, WhatsAppUserId):
        found = _contact_ids("whatsapp_user_id", [str(who)])
        contact_id = found.get(str(who))
    else:
        try:
            digest = phone_hash(normalize_phone(who))
        except InvalidPhone:
            return decision
        contact_id = _contact_ids("phone_hash", [digest]).get(digest)
    return through_number(
        decision, contact_id=contact_id, purpose=purpose, sending_number=sending_number
    )


def may_send_to_phone(raw: str, purpose: str, *, sending_number: str = "") -> tuple[str, Decision]:
    """The phone as we spell it (E.164, or as given when it is none) and whether `purpose` may
    go to it now: a phone that does not parse is never sent to (`invalid_phone`)."""
    e164 = try_normalize_phone(raw)
    if not e164:
        return raw, Decision(False, Reason.INVALID_PHONE)
    return e164, may_send_through_number(E164(e164), purpose, sending_number=sending_number)


def many_phones_through_number(
    answers: list[tuple[str, Decision]], *, purpose: str, sending_number: str = ""
) -> list[tuple[str, Decision]]:
    """`may_send_many` answers, the opted-out ones asked again for `sending_number`."""
    if not per_number() or not sending_number or purpose != Purpose.MARKETING:
        return answers
    stopped = {phone_hash(phone): phone for phone, d in answers if d.reason == Reason.OPTED_OUT}
    if not stopped:
        return answers
    ids = _contact_ids("phone_hash", list(stopped))
    again = decisions_through(set(ids.values()), sending_number)
    by_phone = {
        phone: again[ids[digest]] for digest, phone in stopped.items() if ids.get(digest) in again
    }
    return [(phone, by_phone.get(phone, d)) for phone, d in answers]


# --- Per number, for the person's own page ------------------------------------------------


@dataclass(frozen=True)
class NumberAnswer:
    """Whether marketing may come to a person from one of our numbers, and how it is named."""

    phone_number_id: str
    name: str
    decision: Decision


def number_name(number: SendingNumber) -> str:
    """How a person recognises our number: its brand or label, and the number they see."""
    name = number.brand or number.label
    shown = f"+{number.display_phone_number}" if number.display_phone_number else ""
    if name and shown:
        return f"{name} ({shown})"
    return name or shown or number.phone_number_id


def is_our_number(phone_number_id: str) -> bool:
    return SendingNumber.objects.filter(phone_number_id=phone_number_id).exists()


def marketing_by_number(contact_id: Any) -> list[NumberAnswer]:
    """In `number` scope, the marketing answer each of our numbers gives (else nothing)."""
    if not per_number():
        return []
    numbers = list(SendingNumber.objects.order_by("label", "brand", "phone_number_id"))
    if not numbers:
        return []
    stored = may_send_contacts([contact_id], Purpose.MARKETING)[contact_id]
    return [
        NumberAnswer(
            number.phone_number_id,
            number_name(number),
            through_number(
                stored,
                contact_id=contact_id,
                purpose=Purpose.MARKETING,
                sending_number=number.phone_number_id,
            ),
        )
        for number in numbers
    ]
