"""Editors for list-valued settings: one box per value instead of JSON in a textarea."""

from django import forms
from unfold.widgets import UnfoldAdminIntegerFieldWidget

from ..models import ReconsentPolicy

MAX_OFFSETS = 4


class OffsetsWidget(forms.MultiWidget):
    template_name = "admin/consent/offsets_widget.html"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__([UnfoldAdminIntegerFieldWidget() for _ in range(MAX_OFFSETS)], attrs)

    def decompress(self, value: list[int] | None) -> list[int | None]:
        value = list(value or [])
        return value + [None] * (MAX_OFFSETS - len(value))

    def get_context(self, name: str, value, attrs: dict | None) -> dict:
        context = super().get_context(name, value, attrs)
        for n, subwidget in enumerate(context["widget"]["subwidgets"], start=1):
            subwidget["attrs"]["aria-label"] = f"Reminder {n}: days before the deadline"
            subwidget["attrs"]["min"] = 0
        return context


class OffsetsField(forms.MultiValueField):
    """Days before the deadline, one reminder each; stored largest first, no repeats."""

    widget = OffsetsWidget

    def __init__(self, **kwargs) -> None:
        fields = [forms.IntegerField(required=False, min_value=0, max_value=365)] * MAX_OFFSETS
        kwargs.pop("encoder", None)
        kwargs.pop("decoder", None)
        kwargs.pop("max_length", None)
        super().__init__(fields=fields, require_all_fields=False, **kwargs)

    def compress(self, values: list[int | None]) -> list[int]:
        return sorted({v for v in (values or []) if v is not None}, reverse=True)


class ReconsentPolicyForm(forms.ModelForm):
    reminder_offsets = OffsetsField(
        label="Reminders",
        required=False,
        help_text="Days before the deadline a reminder goes out (e.g. 30, 7 and 1).",
    )

    class Meta:
        model = ReconsentPolicy
        fields = [
            "name",
            "deadline",
            "reminder_offsets",
            "template_name",
            "template_language",
            "active",
        ]


def describe_offsets(offsets: list[int] | None) -> str:
    days = sorted(offsets or [], reverse=True)
    if not days:
        return "none"
    words = ", ".join(str(d) for d in days[:-1])
    listed = f"{words} and {days[-1]}" if words else str(days[-1])
    return f"{listed} day{'s' if days[-1] != 1 or len(days) > 1 else ''} before the deadline"
