"""Which Cloud API endpoint a message goes to: marketing templates may take the Marketing
Messages API (`POST /<PHONE_NUMBER_ID>/marketing_messages`), per number.

Meta asks to route each send by the template's *latest* category: the registry's,
read just before the send (`template_sends.check_template`); a template it does not
know goes by the purpose the message was queued with. Both endpoints go through the
same outbox, claim and token bucket; their error codes mean the same
(`client.error_from_response`: 131049 waits a day, 131050 records the stop, 131062 and
other invalid recipients fail, 130429 retries after Retry-After).
"""

import time
from typing import Any

from django.conf import settings

from .models import OutboundMessage, SendingNumber

MARKETING_MESSAGES = "marketing_messages"
_CACHE_SECONDS = 60.0
_enabled: dict[str, tuple[bool, float]] = {}


def uses_marketing_messages(phone_number_id: str) -> bool:
    """Whether this number sends marketing through the Marketing Messages API (cached 60 s)."""
    if not phone_number_id:
        return False
    known = _enabled.get(phone_number_id)
    if known is not None and time.monotonic() - known[1] < _CACHE_SECONDS:
        return known[0]
    enabled = SendingNumber.objects.filter(
        phone_number_id=phone_number_id, marketing_messages_api=True
    ).exists()
    _enabled[phone_number_id] = (enabled, time.monotonic())
    return enabled


def forget_routing(phone_number_id: str) -> None:
    _enabled.pop(phone_number_id, None)


def routes_to_marketing_messages(row: OutboundMessage, *, category: str = "") -> bool:
    if row.kind != OutboundMessage.Kind.TEMPLATE:
        return False
    marketing = category == "MARKETING" if category else row.purpose == "marketing"
    return marketing and uses_marketing_messages(row.phone_number_id)


def marketing_message(payload: dict[str, Any]) -> dict[str, Any]:
    """The template message as the Marketing Messages API takes it, with its TTL."""
    ttl = settings.WHATSAPP_MARKETING_TTL_SECONDS
    return {**payload, "message_send_ttl_seconds": ttl} if ttl else dict(payload)
