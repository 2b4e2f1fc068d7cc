"""The admin's home page (UNFOLD["DASHBOARD_CALLBACK"]): read, arrange, nothing else."""

import json
from datetime import date, timedelta

from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from consent.labels import label
from consent.rules import Action, Purpose, Source

from .selectors import (
    CHART_DAYS,
    campaigns_in_flight,
    cards,
    latest_snapshots,
    work_waiting,
)
from .services import refresh_dashboard_snapshot

# One colour per source, the same for its opt-ins (above the axis) and opt-outs (below).
SOURCE_COLOURS = {
    Source.WEB_FORM: "#2563eb",
    Source.PREFERENCE_CENTRE: "#7c3aed",
    Source.WHATSAPP_BUTTON: "#16a34a",
    Source.WHATSAPP_KEYWORD: "#0d9488",
    Source.WHATSAPP_PLATFORM: "#65a30d",
    Source.API: "#ea580c",
    Source.IMPORT: "#64748b",
    Source.ADMIN: "#db2777",
    Source.SYSTEM: "#a16207",
}


def answers_chart(daily: list[dict], *, last_day: date) -> dict:
    """Chart.js data: per source, opt-ins per day up, opt-outs per day down."""
    days = [last_day - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    index = {d.isoformat(): i for i, d in enumerate(days)}
    series: dict[tuple[str, str], list[int]] = {}
    for row in daily:
        if row["day"] not in index:
            continue
        values = series.setdefault((row["action"], row["source"]), [0] * len(days))
        sign = 1 if row["action"] == Action.GRANT else -1
        values[index[row["day"]]] += sign * row["n"]
    datasets = []
    for (action, source), values in sorted(series.items()):
        kind = "opt-ins" if action == Action.GRANT else "opt-outs"
        datasets.append(
            {
                "label": f"{kind}: {label('source', source)}",
                "data": values,
                "backgroundColor": SOURCE_COLOURS.get(Source(source), "#94a3b8")
                if source in Source.values
                else "#94a3b8",
                "stack": "answers",
            }
        )
    return {"labels": [d.strftime("%d %b") for d in days], "datasets": datasets}


CHART_OPTIONS = {
    "responsive": True,
    "maintainAspectRatio": False,
    "animation": False,
    "plugins": {"legend": {"display": True, "position": "bottom"}},
    "scales": {
        "x": {"stacked": True, "grid": {"display": False}, "ticks": {"maxTicksLimit": 12}},
        "y": {"stacked": True, "grid": {}},
    },
}


def dashboard_context(request: HttpRequest, context: dict) -> dict:
    latest, earlier = latest_snapshots()
    if latest is None:
        # A fresh install before beat's first run: count once now.
        latest, earlier = refresh_dashboard_snapshot(), {}
    figures = latest.figures
    all_cards = cards(latest, earlier)
    funnel = figures.get("funnel")
    deadline = parse_datetime(funnel["deadline"]) if funnel else None
    if funnel and deadline is not None:
        funnel = {
            **funnel,
            "deadline_at": deadline,
            "days_left": max((deadline - timezone.now()).days, 0),
            "passed": deadline <= timezone.now(),
            "stages": [
                (_("Legacy, in the grace period"), funnel["legacy"], "legacy"),
                (_("Reminded"), funnel["reminded"], "reminded"),
                (_("Re-consented after a reminder"), funnel["reconsented"], "in"),
                (_("Declined after a reminder"), funnel["declined"], "out"),
                (_("Expired"), funnel["expired"], "expired"),
            ],
        }
    daily = figures.get("daily", [])
    totals = {
        "opt_ins": sum(r["n"] for r in daily if r["action"] == Action.GRANT),
        "opt_outs": sum(r["n"] for r in daily if r["action"] == Action.WITHDRAW),
    }
    context.update(
        {
            "title": _("Dashboard"),
            "snapshot": latest,
            "card_groups": [
                (label("purpose", p), p, [c for c in all_cards if c.purpose == p])
                for p in Purpose.values
            ],
            "chart_data": json.dumps(answers_chart(daily, last_day=latest.day)),
            "chart_options": json.dumps(CHART_OPTIONS),
            "chart_days": CHART_DAYS,
            "chart_totals": totals,
            "funnel": funnel,
            "in_flight": campaigns_in_flight(),
            "opt_out_campaigns": figures.get("opt_out_campaigns", []),
            "work_waiting": work_waiting(),
        }
    )
    return context
