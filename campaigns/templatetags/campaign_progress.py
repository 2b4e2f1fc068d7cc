"""A campaign's messages drawn as one stacked bar (SVG attributes: no inline style)."""

from django import template

from campaigns.models import MessageStatus
from campaigns.progress import PROGRESS_ORDER

register = template.Library()
WIDTH = 1000


@register.inclusion_tag("campaigns/status_bar.html")
def message_bar(counts: dict[str, int], bar_id: str = "") -> dict:
    """A campaign's messages per status as one stacked bar with its legend."""
    total = sum(counts.values())
    segments = []
    x = 0.0
    for status in PROGRESS_ORDER:
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
