from datetime import UTC, datetime

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField


def as_utc(moment: datetime) -> datetime | None:
    """`moment` in UTC, or None when it has no UTC (year 0 or 10000 once offset applied).

    ISO 8601 allows offsets up to ±23:59; PostgreSQL refuses those beyond ±15:59, so an
    instant goes to the database as UTC whatever offset it was written with. And
    `0001-01-01T00:00:00+14:00` is a day before the first day Python can hold.
    """
    if moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


class InstantField(IsoDateTimeField):
    """An ISO 8601 instant, in UTC; a 400 naming the filter when it has no UTC."""

    default_error_messages = {
        "out_of_range": "Enter a time between 0001-01-01 and 9999-12-31 in UTC.",
    }

    def to_python(self, value):
        # Python's ISO parser stops at a NUL: "2026-01-01T00:00:00Z\x00" would pass.
        if isinstance(value, str) and "\x00" in value:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        try:
            moment = super().to_python(value)
        except OverflowError:
            moment = None
        else:
            if moment is None:
                return None
            moment = as_utc(moment)
        if moment is None:
            raise forms.ValidationError(self.error_messages["out_of_range"], code="out_of_range")
        return moment


class InstantFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 instant, compared in UTC (see `as_utc`)."""

    field_class = InstantField
