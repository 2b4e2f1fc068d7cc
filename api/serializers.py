"""Fields shared by every app's API serializers."""

from rest_framework import serializers

from core.inputs import has_lone_surrogate


class InstantField(serializers.DateTimeField):
    """An ISO 8601 instant; a NUL or lone surrogate in it is refused, not cut off.

    Python's ISO parser stops at a NUL, so "2026-01-01T00:00:00Z\x00" would be read as
    midnight. (DRF's own DateTimeField already refuses instants with no UTC.)
    """

    def to_internal_value(self, value):
        if isinstance(value, str) and ("\x00" in value or has_lone_surrogate(value)):
            self.fail("invalid", format="ISO 8601")
        return super().to_internal_value(value)


SOURCE_NOT_ALLOWED = "source_not_allowed"


class ApiSourceField(serializers.ChoiceField):
    """A `source` as the API takes it: one of `choices`; a source only the product's own
    channels produce (one of `channels`) is refused as `source_not_allowed`, not as an
    unknown choice, so the caller learns it is a rule, not a typo."""

    def __init__(self, *, channels: list[str], **kwargs) -> None:
        self.channels = frozenset(channels) - {value for value, _ in kwargs["choices"]}
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str) and data in self.channels:
            raise serializers.ValidationError(
                f"'{data}' is recorded only by the product's own channels, never through the "
                f"API; send one of {', '.join(str(c) for c in self.choices)}.",
                code=SOURCE_NOT_ALLOWED,
            )
        return super().to_internal_value(data)
