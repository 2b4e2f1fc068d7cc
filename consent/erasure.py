"""Consent's part in an erasure: every purpose withdrawn before, the evidence and message
bodies blanked after; and a person who was erased and comes back starts opted out, citing
the erasure."""

from datetime import datetime
from typing import Any

from django.dispatch import receiver

from contacts.models import Contact, Erasure
from contacts.signals import erased_person_returned, person_erased, person_erasing
from whatsapp.erasure import erase_message_bodies

from .models import ConsentState
from .rules import Action, Source, Status
from .services import Evidence, erase_evidence, record_consent, withdraw_before_erasure


@receiver(erased_person_returned, dispatch_uid="consent.suppress_returning_person")
def start_opted_out(
    sender: Any, *, contact: Contact, erased: Contact, erasure: Erasure | None, **kwargs: Any
) -> None:
    withdrawn = ConsentState.objects.filter(contact=erased, status=Status.OPTED_OUT).values_list(
        "purpose", flat=True
    )
    cited: dict[str, Any] = {"suppressed_by_erasure": erasure.pk if erasure else None}
    if erasure is not None:
        cited["erased_on"] = erasure.erased_at.date().isoformat()
    for purpose in withdrawn:
        record_consent(
            contact=contact,
            purpose=purpose,
            action=Action.WITHDRAW,
            source=Source.SYSTEM,
            evidence=Evidence(context=cited),
        )


@receiver(person_erasing, dispatch_uid="consent.withdraw_before_erasure")
def withdraw_every_purpose(sender: Any, *, contact: Contact, actor: Any, **kwargs: Any) -> None:
    withdraw_before_erasure(contact=contact, actor=actor)


@receiver(person_erased, dispatch_uid="consent.blank_what_they_said")
def blank_what_they_said(
    sender: Any, *, contact: Contact, addresses: list[str], erased_at: datetime, **kwargs: Any
) -> None:
    erase_evidence(contact=contact, at=erased_at)
    erase_message_bodies(contact_id=contact.pk, addresses=addresses)
