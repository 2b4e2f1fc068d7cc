"""Webhook items that hold someone's messages: who they name, and the opt-out staff record.

A failed item that may carry an opt-out (an unreadable body, an item that kept failing)
holds every message to the people it names until a person reads it. The restrictive
way to settle it is here: record a `withdraw` for those people, as the item would have
(`whatsapp.settlement` is the other way: "no opt-out in it").
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from contacts.models import Contact
from contacts.selectors import Identifiers, resolve_contacts
from contacts.services import resolve_or_create_contacts
from whatsapp.models import InboundEvent
from whatsapp.settlement import Settlement, settle_inbound_event

from .models import ConsentEvent
from .rules import Purpose, Source
from .services import Evidence, record_opt_out

# The choice that stands for a readable item's sender nobody knows yet.
NEW_SENDER = "new"


@dataclass(frozen=True)
class NamedPeople:
    """The contacts a stored item names (most specific first), and a sender to create.

    `new_sender`: the identifiers of a readable item's sender that name no contact yet;
    an opt-out creates that contact, as processing the item would have.
    """

    contacts: list[Contact]
    new_sender: Identifiers | None = None

    def __bool__(self) -> bool:
        return bool(self.contacts or self.new_sender)


def people_named_by(item: InboundEvent) -> NamedPeople:
    """Whom a failed item may speak for: its sender, or each id found in unreadable bytes.

    An unreadable body names every known contact whose wa_id, number or business-scoped
    id appears in it; its digit runs are never made into new contacts (a timestamp is
    not a person). Erased people are left out: they are opted out of everything already.
    """
    found: dict[object, Contact] = {}
    if item.kind == InboundEvent.Kind.MALFORMED:
        tokens = [*item.sender.split(), *item.sender_user_id.split()]
        for token in dict.fromkeys(tokens):
            ids = (
                Identifiers(wa_id=token) if token.isdigit() else Identifiers(whatsapp_user_id=token)
            )
            for contact in resolve_contacts(ids):
                found.setdefault(contact.pk, contact)
        return NamedPeople([c for c in found.values() if not c.is_erased])
    sender = Identifiers(wa_id=item.sender or None, whatsapp_user_id=item.sender_user_id or None)
    if not sender:
        return NamedPeople([])
    known = resolve_contacts(sender)
    return NamedPeople([c for c in known if not c.is_erased], new_sender=None if known else sender)


def record_opt_out_from_item(
    *,
    item: InboundEvent,
    contacts: Sequence[Contact],
    new_sender: Identifiers | None = None,
    stop_all: bool,
    note: str,
    actor: AbstractBaseUser,
) -> list[ConsentEvent]:
    """Record the opt-out a failed item may carry, then settle it: one transaction.

    A `withdraw` of marketing (and of service with `stop_all`, as "STOP ALL" would) for
    each of `contacts` and for `new_sender` (created), source `admin`, by `actor`, with
    a note naming the item; each event and the settlement are audited. Raises
    whatsapp.settlement.NotSettleable, recording nothing, when the item is no longer
    waiting (someone decided first).
    """
    purposes = list(Purpose.values) if stop_all else [Purpose.MARKETING.value]
    with transaction.atomic():
        people = list(contacts)
        if new_sender:
            people += resolve_or_create_contacts(new_sender).contacts
        if not people:
            raise ValueError("name at least one person to record the opt-out for")
        who = ", ".join(str(contact) for contact in people)
        settle_inbound_event(
            item=item,
            settlement=Settlement.OPT_OUT_RECORDED,
            reason=f"opt-out of {' and '.join(purposes)} recorded for {who}"
            + (f": {note.strip()}" if note.strip() else ""),
            actor=actor,
            details={"contacts": [str(c.pk) for c in people], "purposes": purposes},
        )
        return record_opt_out(
            contacts=people,
            purposes=purposes,
            source=Source.ADMIN,
            actor=actor,
            audited=True,
            evidence=Evidence(
                note=f"recorded by staff from webhook item {item.pk} ({item.kind}), "
                f"which could not be processed" + (f": {note.strip()}" if note.strip() else ""),
                context={"inbound_event": item.pk},
            ),
        )
