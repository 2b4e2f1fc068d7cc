from django import template

from consent.labels import label

register = template.Library()


@register.filter(name="consent_label")
def consent_label(code: str | None, kind: str) -> str:
    """`{{ event.source|consent_label:"source" }}` → "WhatsApp keyword"."""
    return label(kind, code)
