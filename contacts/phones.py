"""Phone numbers: parsing to E.164 and the keyed hash that survives erasure."""

import hashlib
import hmac
from functools import lru_cache

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError


class InvalidPhone(ValidationError):
    def __init__(self, raw: object, field: str = "phone") -> None:
        self.raw = raw
        self.field = field
        super().__init__({field: [f"{raw!r} is not a valid phone number."]}, code="invalid_phone")


def normalize_phone(raw: object, *, region: str | None = None, field: str = "phone") -> str:
    """Return `raw` in E.164, or raise InvalidPhone naming `field`.

    A leading space is read as '+': it is what an unencoded '+' in a query
    string becomes.
    """
    if not isinstance(raw, str):
        raise InvalidPhone(raw, field)
    text = raw.strip("\t\r\n")
    if text.startswith(" "):
        text = "+" + text.lstrip(" ")
    text = text.strip()
    if not text or len(text) > 40:
        raise InvalidPhone(raw, field)
    try:
        parsed = phonenumbers.parse(text, region or settings.DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(raw, field) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(raw, field)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def try_normalize_phone(raw: object) -> str | None:
    try:
        return normalize_phone(raw)
    except InvalidPhone:
        return None


def phone_hash(e164: str) -> str:
    """Keyed hash of an E.164 phone; kept after erasure to recognise the number."""
    digest = _keyed_sha256(settings.PHONE_HASH_KEY).copy()
    digest.update(e164.encode())
    return digest.hexdigest()


@lru_cache(maxsize=4)
def _keyed_sha256(key: str) -> "hmac.HMAC":
    # Keying HMAC once and copying it is a third cheaper per phone (bulk eligibility).
    return hmac.new(key.encode(), digestmod=hashlib.sha256)


def wa_id_for(e164: str) -> str:
    """The digits WhatsApp uses for a phone (it may later send a different wa_id)."""
    return e164.lstrip("+")
