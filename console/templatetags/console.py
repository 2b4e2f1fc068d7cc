"""Numbers drawn: stacked bars as SVG (attributes, not inline styles, so the CSP holds)."""

from django import template

from campaigns.models import MessageStatus

register = template.Library()

# Left to right: done well, on its way, waiting, then what did not go.
MESSAGE_ORDER = [
    MessageStatus.READ,
    MessageStatus.DELIVERED,
    MessageStatus.SENT,
    MessageStatus.SENDING,
    MessageStatus.QUEUED,
    MessageStatus.SKIPPED,
    MessageStatus.FAILED,
    MessageStatus.UNKNOWN,
]
WIDTH = 1000


@register.inclusion_tag("console/status_bar.html")
def message_bar(counts: dict[str, int], bar_id: str = "") -> dict:
    """A campaign's messages per status as one stacked bar with its legend."""
    total = sum(counts.values())
    segments = []
    x = 0.0
    for status in MESSAGE_ORDER:
        n = counts.get(status, 0)
        width = WIDTH * n / total if total else 0
        segments.append(
            {"status": status, "label": MessageStatus(status).label, "n": n, "x": x, "w": width}
        )
        x += width
    done = total - counts.get(MessageStatus.QUEUED, 0) - counts.get(MessageStatus.SENDING, 0)
    summary = ", ".join(f"{s['label']}: {s['n']}" for s in segments if s["n"])
    return {
        "segments": segments,
        "total": total,
        "done": done,
        "percent": round(100 * done / total) if total else 0,
        "summary": summary or "no messages yet",
        "bar_id": bar_id,
        "width": WIDTH,
    }


@register.inclusion_tag("console/funnel.html")
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
