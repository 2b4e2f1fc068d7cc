"""One date format across the admin ("7 Dec 2026, 19:51", config/formats), in the staff
user's locale (the active language's formats) and time zone (the current one, which
console.middleware.StaffTimeZoneMiddleware sets from the browser)."""

from datetime import date, datetime

from django.utils import timezone
from django.utils.formats import date_format


def moment(value: datetime) -> str:
    """A date and time, as the admin shows one everywhere."""
    return date_format(
        timezone.localtime(value) if timezone.is_aware(value) else value, "DATETIME_FORMAT"
    )


def day(value: date | datetime) -> str:
    """A date (a moment's day where the staff user is), as the admin shows one everywhere."""
    if isinstance(value, datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    return date_format(value, "DATE_FORMAT")
