"""Phone numbers: parsing to E.164 and the keyed hash that survives erasure."""

import hashlib
import hmac
import unicodedata
from collections.abc import Callable
from functools import lru_cache

import phonenumbers
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver

PHONE_CHARACTERS = "A phone number has only digits, spaces and + ( ) - ."

# What a phone is written with: digits of any script, spaces (no-break and thin ones
# too) and these signs, with the dashes and full-width forms people paste. A letter is
# never read as its keypad digit, nor "ext.", "*" or "tel:" dropped: text that is not a
# phone is refused, not guessed at.
_SIGNS = frozenset("+()-.\u2010\u2011\u2012\u2013\u2014\u2212\uff0b\uff08\uff09\uff0d\uff0e")


class InvalidPhone(ValidationError):
    def __init__(self, raw: object, field: str = "phone", *, why: str = "") -> None:
        self.raw = raw
        self.field = field
        self.why = why
        message = f"{raw!r} is not a valid phone number." + (f" {why}" if why else "")
        super().__init__({field: [message]}, code="invalid_phone")


class NotPhoneCharacters(InvalidPhone):
    """Letters or other signs in a phone: refused, whatever `phonenumbers` would make of them."""

    def __init__(self, raw: object, field: str = "phone") -> None:
        super().__init__(raw, field, why=PHONE_CHARACTERS)


def has_only_phone_characters(text: str) -> bool:
    return all(ch.isdecimal() or ch in _SIGNS or unicodedata.category(ch) == "Zs" for ch in text)


def normalize_phone(raw: object, *, region: str | None = None, field: str = "phone") -> str:
    """Return `raw` in E.164, or raise InvalidPhone naming `field`.

    A leading space is read as '+': it is what an unencoded '+' in a query
    string becomes. Anything but digits, spaces and + ( ) - . raises
    NotPhoneCharacters: `phonenumbers` would read "+44 7911 ABC123" as
    +447911222123, a number nobody typed.
    """
    if not isinstance(raw, str):
        raise InvalidPhone(raw, field)
    text = raw.strip("\t\r\n")
    if text.startswith(" "):
        text = "+" + text.lstrip(" ")
    text = text.strip()
    if not text or len(text) > 40:
        raise InvalidPhone(raw, field)
    if not has_only_phone_characters(text):
        raise NotPhoneCharacters(raw, field)
    try:
        parsed = phonenumbers.parse(text, region or settings.DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(raw, field) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(raw, field)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


# Ofcom's numbers for drama (TV, radio, film, games): reserved, never assigned to anyone.
# https://www.ofcom.org.uk/phones-and-broadband/phone-numbers/numbers-for-drama
UK_DRAMA_RANGES = (
    "+441134960",  # 0113 496 0000-0999 (Leeds), and the other geographic ones below
    "+441144960",
    "+441154960",
    "+441164960",
    "+441174960",
    "+441184960",
    "+441214960",
    "+441314960",
    "+441414960",
    "+441514960",
    "+441614960",
    "+441914980",  # 0191 498 0000-0999
    "+442079460",  # 020 7946 0000-0999 (London)
    "+442896496",  # 028 9649 6000-6999
    "+442920180",  # 029 2018 0000-0999
    "+441632960",  # 01632 960000-960999 (no area)
    "+447700900",  # 07700 900000-900999 (mobile)
    "+448081570",  # 0808 157 0000-0999 (freephone)
    "+449098790",  # 0909 879 0000-0999 (premium rate)
    "+443069990",  # 03069 990000-990999 (UK-wide)
)
_COUNTRY_WORDS = {"GB": "UK", "US": "US"}
_PARSE_WORDS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: (
        "no country has this code (start with + and the country code)"
    ),
    phonenumbers.NumberParseException.NOT_A_NUMBER: "this is not a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short to be a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short to be a phone number",
    phonenumbers.NumberParseException.TOO_LONG: "too long to be a phone number",
}


def _country(parsed: phonenumbers.PhoneNumber) -> str:
    region = phonenumbers.region_code_for_country_code(parsed.country_code or 0)
    if region in _COUNTRY_WORDS:
        return _COUNTRY_WORDS[region]
    from phonenumbers import geocoder

    return geocoder.country_name_for_number(parsed, "en") or f"+{parsed.country_code}"


def why_not_a_phone(raw: object, *, region: str | None = None) -> str:
    """Why `raw` is not a phone we can message, in words ("" when it is one).

    "07700 900123" -> "this range is reserved for drama and never assigned";
    "+44 20" -> "too short for a UK number".
    """
    if not isinstance(raw, str) or not raw.strip():
        return "no phone number given"
    text = raw.strip()
    if len(text) > 40:
        return "too long to be a phone number"
    if not has_only_phone_characters(text.lstrip("+")):
        return "a phone number has only digits, spaces and + ( ) - ."
    try:
        parsed = phonenumbers.parse(text, region or settings.DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException as exc:
        return _PARSE_WORDS.get(exc.error_type, "this is not a phone number")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if e164.startswith(UK_DRAMA_RANGES):
        return "this range is reserved for drama and never assigned"
    country = _country(parsed)
    reason = phonenumbers.is_possible_number_with_reason(parsed)
    V = phonenumbers.ValidationResult
    if reason == V.TOO_SHORT:
        return f"too short for a {country} number"
    if reason == V.TOO_LONG:
        return f"too long for a {country} number"
    if reason == V.INVALID_LENGTH:
        return f"the wrong number of digits for a {country} number"
    if reason == V.INVALID_COUNTRY_CODE:
        return "no country has this code (start with + and the country code)"
    if not phonenumbers.is_valid_number(parsed):
        return f"no {country} number starts like this (the range is not in use)"
    return ""


def try_normalize_phone(raw: object) -> str | None:
    try:
        return normalize_phone(raw)
    except InvalidPhone:
        return None


def identifier_hash(kind: str, value: str) -> str:
    """Keyed hash of a WhatsApp identifier (wa_id, user id) kept on the suppression list."""
    return _keyed(f"{kind}:{value}")


def phone_hash(e164: str) -> str:
    """Keyed hash of an E.164 phone; kept after erasure to recognise the number."""
    return _keyed(e164)


def hash_keys() -> list[str]:
    """Every key ever used, oldest first; the last is the current one."""
    keys = [*settings.PHONE_HASH_PREVIOUS_KEYS, settings.PHONE_HASH_KEY]
    if not all(keys):
        raise ImproperlyConfigured("PHONE_HASH_KEY must be set (and no previous key empty)")
    return keys


def hash_key_version() -> int:
    """The version stored hashes carry: how many keys they have been keyed with."""
    return len(settings.PHONE_HASH_PREVIOUS_KEYS) + 1


def rekey(digest: str, key: str) -> str:
    """A stored hash keyed once more with a new key.

    A keyed hash cannot be recomputed for an erased number (its plaintext is
    gone), so rotation wraps: version n+1 is HMAC(new key, version n). Lookups
    compute the same chain from the plaintext, so every old key stays needed.
    """
    return hmac.new(key.encode(), digest.encode(), hashlib.sha256).hexdigest()


def _keyed(text: str) -> str:
    return _hasher()(text)


@lru_cache(maxsize=1)
def _hasher() -> Callable[[str], str]:
    # Keys read and HMAC keyed once, then copied per text: hashing 10,000 phones (bulk
    # eligibility, an import) costs about half what reading the settings per phone did.
    first, *later = hash_keys()
    keyed = hmac.new(first.encode(), digestmod=hashlib.sha256)

    def hashed(text: str) -> str:
        digest = keyed.copy()
        digest.update(text.encode())
        value = digest.hexdigest()
        for key in later:
            value = rekey(value, key)
        return value

    return hashed


@receiver(setting_changed)
def _forget_hash_keys(*, setting: str, **kwargs: object) -> None:
    if setting in {"PHONE_HASH_KEY", "PHONE_HASH_PREVIOUS_KEYS"}:
        _hasher.cache_clear()


def wa_id_for(e164: str) -> str:
    """The digits WhatsApp uses for a phone (it may later send a different wa_id)."""
    return e164.lstrip("+")


class PhoneField(models.CharField):
    """A phone stored in E.164: parsed and validated on the way in, a plain string out.

    What the database holds was normalised when written, so reading it back never
    parses it again (a million rows read are a million strings, not a million
    `phonenumbers.parse` calls).
    """

    description = "Phone number in E.164"
    default_error_messages = {"invalid": "Enter a valid phone number."}

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("max_length", 128)
        super().__init__(*args, **kwargs)

    def to_python(self, value: object) -> str | None:
        """Input (forms, full_clean): any format phonenumbers reads → E.164."""
        value = super().to_python(value)
        if not value:
            return None if self.null else ""
        try:
            return normalize_phone(value)
        except InvalidPhone:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None

    def get_prep_value(self, value: object) -> str | None:
        if value is None or value == "":
            return None if self.null else ""
        # Writes and lookups store and compare E.164; an unparsable value is
        # compared as given (it matches nothing stored).
        return try_normalize_phone(str(value)) or str(value)
