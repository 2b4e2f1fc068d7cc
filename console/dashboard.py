"""The admin's home page (UNFOLD["DASHBOARD_CALLBACK"]): read, arrange, nothing else."""

import json
from datetime import date, timedelta

from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from consent.labels import label
from consent.rules import Action, Purpose, Source, Status

from .selectors import (
    CHART_DAYS,
    campaigns_in_flight,
    cards,
    daily_answers,
    latest_snapshot,
    topic_tallies,
    work_waiting,
)
from .services import refresh_dashboard_snapshot

# One colour per source, the same for its opt-ins (left bar of a day) and opt-outs (right).
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
    """Chart.js data: per day, a bar of opt-ins and a bar of opt-outs, each stacked by source,
    both counted up from zero on one axis (so a few opt-outs are drawn to scale)."""
    days = [last_day - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    index = {d.isoformat(): i for i, d in enumerate(days)}
    series: dict[tuple[str, str], list[int]] = {}
    for row in daily:
        if row["day"] not in index:
            continue
        values = series.setdefault((row["action"], row["source"]), [0] * len(days))
        values[index[row["day"]]] += row["n"]
    datasets = []
    for (action, source), values in sorted(series.items()):
        kind = "opt-ins" if action == Action.GRANT else "opt-outs"
        colour = SOURCE_COLOURS[Source(source)] if source in Source.values else "#94a3b8"
        datasets.append(
            {
                "label": f"{kind}: {label('source', source)}",
                "data": values,
                # An opt-out's bar is its source's colour, lighter, with the colour's edge.
                "backgroundColor": colour if kind == "opt-ins" else f"{colour}66",
                "borderColor": colour,
                "borderWidth": 0 if kind == "opt-ins" else 1,
                "stack": kind,
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
        "y": {"stacked": True, "beginAtZero": True, "min": 0, "ticks": {"precision": 0}},
    },
}


def card_groups(all_cards: list) -> list[tuple]:
    """Per purpose: its label, its key, its state cards, and its topics' tallies."""
    topics = topic_tallies()
    return [
        (
            label("purpose", p),
            p,
            [c for c in all_cards if c.purpose == p],
            [t for t in topics if t.purpose == p],
        )
        for p in Purpose.values
    ]


def dashboard_context(request: HttpRequest, context: dict) -> dict:
    latest = latest_snapshot()
    if latest is None:
        # A fresh install before beat's first run: count once now.
        latest = refresh_dashboard_snapshot()
    figures = latest.figures
    all_cards = cards()
    funnel = figures.get("funnel")
    if funnel:
        # Where contacts stand now, from the exact counts; who was asked, from the snapshot.
        funnel = {
            **funnel,
            "legacy": sum(c.count for c in all_cards if c.status == Status.LEGACY),
            "expired": sum(c.count for c in all_cards if c.status == Status.EXPIRED),
        }
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
    # The snapshot's days, and what took effect since it was counted (an index range).
    daily = [
        *figures.get("daily", []),
        *daily_answers(today=timezone.localdate(), since=latest.taken_at),
    ]
    totals = {
        "opt_ins": sum(r["n"] for r in daily if r["action"] == Action.GRANT),
        "opt_outs": sum(r["n"] for r in daily if r["action"] == Action.WITHDRAW),
    }
    context.update(
        {
            "title": _("Dashboard"),
            "snapshot": latest,
            "counted_at": timezone.now(),
            "card_groups": card_groups(all_cards),
            "chart_data": json.dumps(answers_chart(daily, last_day=timezone.localdate())),
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
