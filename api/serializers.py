"""Fields shared by every app's API serializers."""

from rest_framework import serializers

from .inputs import has_lone_surrogate


class InstantField(serializers.DateTimeField):
    """An ISO 8601 instant; a NUL or lone surrogate in it is refused, not cut off.

    Python's ISO parser stops at a NUL, so "2026-01-01T00:00:00Z\x00" would be read as
    midnight. (DRF's own DateTimeField already refuses instants with no UTC.)
    """

    def to_internal_value(self, value):
        if isinstance(value, str) and ("\x00" in value or has_lone_surrogate(value)):
            self.fail("invalid", format="ISO 8601")
        return super().to_internal_value(value)
