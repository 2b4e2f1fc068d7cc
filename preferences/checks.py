"""Settings the customer pages rely on, checked at start-up."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from contacts.phones import try_normalize_phone


@register()
def whatsapp_display_number(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """The opt-in page's START link goes to this number: a wrong one would lead nowhere."""
    value = settings.WHATSAPP_DISPLAY_PHONE_NUMBER
    if not value or try_normalize_phone(value):
        return []
    return [
        Error(
            f"WHATSAPP_DISPLAY_PHONE_NUMBER {value!r} is not a valid phone number",
            hint="Give the business's WhatsApp number with its country code, e.g. "
            "+44 20 7946 0000, or leave it unset: the opt-in page then says to send "
            "START without a link.",
            id="preferences.E001",
        )
    ]
