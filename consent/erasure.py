"""A person who was erased and comes back starts opted out, citing the erasure."""

from typing import Any

from django.dispatch import receiver

from contacts.models import Contact, Erasure
from contacts.signals import erased_person_returned

from .models import ConsentState
from .rules import Action, Source, Status
from .services import Evidence, record_consent


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
