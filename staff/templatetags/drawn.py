"""Numbers drawn for staff pages: funnels as SVG bars (attributes, not inline styles)."""

from django import template

register = template.Library()
WIDTH = 1000


@register.inclusion_tag("staff/funnel.html")
def funnel_bars(stages: list[tuple[str, int, str]]) -> dict:
    """Funnel stages (label, count, css kind) as bars proportional to the largest."""
    largest = max((n for _, n, _ in stages), default=0) or 1
    return {
        "stages": [
            {"label": label, "n": n, "kind": kind, "w": WIDTH * n / largest}
            for label, n, kind in stages
        ],
        "width": WIDTH,
    }
