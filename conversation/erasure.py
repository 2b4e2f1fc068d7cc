"""The consent conversation's part in an erasure: what the person wrote, held for review,
is blanked; the review keeps its decision and the event it led to."""

from datetime import datetime
from typing import Any

from django.dispatch import receiver

from contacts.models import Contact
from contacts.signals import person_erased

from .models import OptOutReview


@receiver(person_erased, dispatch_uid="conversation.blank_reviewed_words")
def blank_reviewed_words(
    sender: Any, *, contact: Contact, erased_at: datetime, **kwargs: Any
) -> None:
    OptOutReview.objects.filter(contact=contact).update(text="", matched="")
