"""A phone as the REST API takes it: in a body (PhoneField) and in a query (PhoneFilter)."""

from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.errors import validation_error
from core.inputs import refuse_unstorable, shown

from .phones import InvalidPhone, normalize_phone, phone_hash


@extend_schema_field(
    {
        "type": "string",
        "example": "+447911123456",
        "description": "Any format phonenumbers parses; always returned in E.164.",
    }
)
class PhoneField(serializers.CharField):
    """Accepts a phone in any format; the value is E.164; 400 naming the field otherwise."""

    default_error_messages = {"invalid_phone": "'{value}' is not a valid phone number."}

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("invalid_phone", value=shown(data))
        # Before parsing, so that the answer names the real problem.
        refuse_unstorable(data)
        try:
            return normalize_phone(data, field=self.field_name or "phone")
        except InvalidPhone as error:
            message = self.error_messages["invalid_phone"].format(value=shown(data))
            raise serializers.ValidationError(
                _with_why(message, error), code="invalid_phone"
            ) from None

    # The stubs pin CharField's representation to str; DRF itself writes None for nulls,
    # and an empty phone reads as null here.
    def to_representation(self, value: object) -> str | None:  # type: ignore[override]
        return str(value) if value else None


class PhoneFilter(django_filters.CharFilter):
    """A phone in any format, found by its keyed hash (`field_name` is the hash's path)."""

    def __init__(self, *, field_name: str = "phone_hash", **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "Any format.")
        super().__init__(field_name=field_name, **kwargs)

    def filter(self, qs: QuerySet, value: str) -> QuerySet:
        if not value:
            return qs
        try:
            digest = phone_hash(normalize_phone(value))
        except InvalidPhone as error:
            message = f"{value[:64]!r} is not a valid phone number."
            raise validation_error("phone", _with_why(message, error), "invalid_phone") from None
        return qs.filter(**{self.field_name: digest})


def _with_why(message: str, error: InvalidPhone) -> str:
    # "… is not a valid phone number. A phone number has only digits, …": what to fix.
    return f"{message} {error.why}" if error.why else message
