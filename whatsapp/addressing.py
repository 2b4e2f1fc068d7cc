"""Where a message to a person goes: the one outbound addressing rule.

The Cloud API takes a phone number as `to`, or a business-scoped user id
(BSUID, e.g. "US.13491208655302741918") or parent BSUID as `recipient`; when
both are present `to` wins. Meta recommends the phone number whenever one is
known (phone fields then keep appearing in webhooks), so a person is addressed
by `recipient` only when we know no number: someone who writes to us with a
WhatsApp username and nothing else.

`whatsapp` knows no other app: callers hand in plain identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

TO, RECIPIENT = "to", "recipient"


@dataclass(frozen=True)
class Address:
    """`field` is "to" or "recipient"; `keys` are every id the person may write from."""

    field: str
    value: str
    keys: tuple[str, ...] = ()

    def as_payload(self) -> dict[str, str]:
        return {self.field: self.value}


def digits(phone: str) -> str:
    """`+44 7911 123456` → `447911123456`: what the Cloud API expects in `to`."""
    return "".join(ch for ch in phone if ch.isdigit())


def chat_link(phone: str, text: str = "") -> str:
    """A wa.me link that opens a chat with `phone`, `text` typed in for the person to send."""
    query = f"?{urlencode({'text': text})}" if text else ""
    return f"https://wa.me/{digits(phone)}{query}"


def whatsapp_address(
    *,
    phone: object = None,
    wa_id: str | None = None,
    user_id: str | None = None,
    parent_user_id: str | None = None,
) -> Address | None:
    """The address of a person, or None when nothing can reach them.

    `wa_id` (the id WhatsApp gave us, digits, not always a valid phone number)
    comes first, then the phone; without either, the business-scoped user id,
    then the parent one (a portfolio-wide id Meta also accepts as `recipient`).
    """
    phone_digits = digits(str(phone)) if phone else ""
    keys = tuple(k for k in dict.fromkeys([wa_id, phone_digits, user_id, parent_user_id]) if k)
    if wa_id or phone_digits:
        return Address(TO, wa_id or phone_digits, keys)
    if user_id or parent_user_id:
        return Address(RECIPIENT, str(user_id or parent_user_id), keys)
    return None
