from datetime import UTC

import django_filters


class InstantFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 instant, compared in UTC.

    ISO 8601 allows offsets up to ±23:59; PostgreSQL refuses those beyond ±15:59,
    so the instant is sent as UTC whatever offset it was written with.
    """

    def filter(self, qs, value):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return super().filter(qs, value)
