"""A topic campaign's message goes only to someone who still chose its topic.

The outbox asks every gate just before a row goes; consent's gate answers for the
campaign's purpose, this one for its topic: a person who turned the topic off after
the message was queued is not sent it (`consent.selectors.narrowed_to_topic`, the
one rule).
"""

from functools import lru_cache
from typing import Any

from consent.models import Topic
from consent.selectors import Decision, Reason, narrowed_to_topic
from contacts.models import Contact
from whatsapp.delivery import send_gate
from whatsapp.models import OutboundMessage

from .models import Campaign
from .services import OUTBOX_ORIGIN


@lru_cache(maxsize=256)
def _topic_of(campaign_id: str) -> Topic | None:
    # A campaign's topic is fixed once it is launched, and only launched ones send.
    return Topic.objects.filter(
        pk=Campaign.objects.filter(pk=campaign_id).values("topic_id")[:1]
    ).first()


def campaign_of(row: OutboundMessage) -> Any:
    """The campaign id a campaign message's outbox row carries (None: not a campaign's)."""
    prefix, _, rest = (row.origin or "").partition(":")
    return rest.split(":", 1)[0] if prefix == OUTBOX_ORIGIN and rest else None


@send_gate
def topic_gate(row: OutboundMessage) -> str | None:
    campaign_id = campaign_of(row)
    if campaign_id is None or row.contact_id is None:
        return None
    topic = _topic_of(campaign_id)
    if topic is None:
        return None
    # The purpose is consent's gate to answer: here only what the topic makes of a yes.
    decision = narrowed_to_topic(Decision(True, Reason.OPTED_IN), Contact(pk=row.contact_id), topic)
    return None if decision.allowed else decision.reason
