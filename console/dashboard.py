"""The admin's home page (UNFOLD["DASHBOARD_CALLBACK"]): read, arrange, nothing else."""

import json
from datetime import date, timedelta

from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from consent.labels import label
from consent.rules import Action, Purpose, Source, Status

from .selectors import (
    CHART_DAYS,
    campaigns_in_flight,
    cards,
    daily_answers,
    opt_out_campaigns,
    reconsent_funnel,
    topic_tallies,
    work_waiting,
)

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
    # The day as the staff user's locale writes a day of a month ("7 Dec", "7 dic").
    labels = [date_format(d, "j M") for d in days]
    return {"labels": labels, "datasets": datasets}


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


def funnel_stages(funnel: dict | None, all_cards: list) -> dict | None:
    """The funnel's bars: who was asked and how they answered (console.selectors), where
    contacts stand now (the state cards), and the days left to the deadline."""
    if not funnel:
        return None
    now = timezone.now()
    legacy = sum(c.count for c in all_cards if c.status == Status.LEGACY)
    expired = sum(c.count for c in all_cards if c.status == Status.EXPIRED)
    deadline = funnel["deadline"]
    return {
        **funnel,
        "legacy": legacy,
        "expired": expired,
        "deadline_at": deadline,
        "days_left": max((deadline - now).days, 0),
        "passed": deadline <= now,
        "stages": [
            (_("Legacy, in the grace period"), legacy, "legacy"),
            (_("Reminded"), funnel["reminded"], "reminded"),
            (_("Re-consented after a reminder"), funnel["reconsented"], "in"),
            (_("Declined after a reminder"), funnel["declined"], "out"),
            (_("Expired"), expired, "expired"),
        ],
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
    all_cards = cards()
    today = timezone.localdate()
    daily = daily_answers(today=today)
    totals = {
        "opt_ins": sum(r["n"] for r in daily if r["action"] == Action.GRANT),
        "opt_outs": sum(r["n"] for r in daily if r["action"] == Action.WITHDRAW),
    }
    context.update(
        {
            "title": _("Dashboard"),
            "counted_at": timezone.now(),
            "card_groups": card_groups(all_cards),
            "chart_data": json.dumps(answers_chart(daily, last_day=today)),
            "chart_options": json.dumps(CHART_OPTIONS),
            "chart_days": CHART_DAYS,
            "chart_totals": totals,
            "funnel": funnel_stages(reconsent_funnel(), all_cards),
            "in_flight": campaigns_in_flight(),
            "opt_out_campaigns": opt_out_campaigns(today=today),
            "work_waiting": work_waiting(),
        }
    )
    return context
