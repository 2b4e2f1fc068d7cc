"""Consent acting on its own signals: a purpose's withdrawal reaches the topics under it."""

from typing import Any

from django.dispatch import receiver

from .models import ConsentEvent
from .services import withdraw_topics_under
from .signals import consent_withdrawn


@receiver(consent_withdrawn, dispatch_uid="consent.withdraw_topics")
def withdraw_topics(*, event: ConsentEvent, **kwargs: Any) -> None:
    # Sent for every applied withdrawal of a purpose, by the recorder and by imports alike,
    # inside their transaction with the contact locked.
    if event.topic is None:
        withdraw_topics_under(event)
