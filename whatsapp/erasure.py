"""Removing a person's message bodies from webhook storage and the outbox (erasure).

`whatsapp` knows no app: the caller says who, by contact id and addresses
(phone digits, wa_id, business-scoped ids) as they appear in payloads.
"""

from collections.abc import Iterable
from uuid import UUID

from django.db import transaction
from django.db.models import Q

from .models import InboundEvent, OutboundMessage, WebhookDelivery

ERASED = {"erased": "at the person's request"}


@transaction.atomic
def erase_message_bodies(*, contact_id: UUID, addresses: Iterable[str]) -> int:
    """Blank every stored payload that names one of `addresses`; returns rows changed.

    Inbound items keep their kind, wamid and state (what happened), not what
    was said; a raw delivery that was already split into items loses its body
    (the items are what processing reads). Outbound rows keep their status.
    """
    addresses = [a for a in {str(a).lstrip("+") for a in addresses} if a]
    changed = 0
    if addresses:
        naming = Q()
        for address in addresses:
            naming |= Q(payload__icontains=address) | Q(body__icontains=address)
        items = InboundEvent.objects.filter(naming)
        deliveries = list(items.exclude(delivery=None).values_list("delivery_id", flat=True))
        changed += items.update(payload=ERASED, body="")
        changed += (
            WebhookDelivery.objects.filter(pk__in=deliveries)
            .exclude(state=WebhookDelivery.State.STORED)
            .update(body=b"")
        )
    outbound = Q(contact_id=contact_id)
    for address in addresses:
        outbound |= Q(to=address)
    changed += (
        OutboundMessage.objects.filter(outbound)
        .exclude(status__in=[OutboundMessage.Status.QUEUED, OutboundMessage.Status.SENDING])
        .update(to="", payload=ERASED, fallback_payload=None, result=None)
    )
    return changed
