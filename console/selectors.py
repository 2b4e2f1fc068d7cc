"""What the dashboard shows, exact the moment a change commits. State counts, the chart,
the campaigns most answered with an opt-out and the re-consent funnel are sums of tally
rows that database triggers append in the writer's transaction (console.sql; a few
hundred rows once beat folds them); the rest are counts that partial indexes answer:
a constant number of queries at any size."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from campaigns.models import (
    Campaign,
    CampaignStatus,
)
from campaigns.selectors import campaigns_with_counts, counts_from_annotations
from consent.models import (
    OutrankedOptOut,
    ReconsentPolicy,
    Topic,
    TopicState,
)
from consent.rules import Action, Purpose, Status, statuses_of
from contacts.models import LikelyDuplicate
from conversation.models import OptOutReview
from imports.models import ContactImport
from whatsapp.models import InboundEvent, OutboundMessage

from .models import (
    ASKED_FIGURE,
    CONTACTS_PURPOSE,
    CONTACTS_STATUS,
    AnswerTally,
    ReconsentTally,
    StateTally,
)

CHART_DAYS = 90
# The changes each card shows, in days back; the triggers date tally rows by UTC day.
CHANGE_WINDOWS = (7, 30)
TOP_OPT_OUT_CAMPAIGNS = 5
# The order cards and funnels read in: from "may send" to "may not".
CARD_STATUSES = [
    Status.OPTED_IN,
    Status.LEGACY,
    Status.PENDING,
    Status.PAUSED,
    Status.OPTED_OUT,
    Status.EXPIRED,
    Status.NONE,
]


def tally_day() -> date:
    """Today as the tally triggers date their rows (UTC)."""
    return timezone.now().astimezone(UTC).date()


# --- Figures the triggers keep (console.sql, migrations 0002 and 0003) --------------


def chart_start(*, today: date) -> datetime:
    """Midnight, in the current time zone, of the chart's first day."""
    return timezone.make_aware(
        datetime.combine(today - timedelta(days=CHART_DAYS - 1), datetime.min.time())
    )


def daily_answers(*, today: date) -> list[dict]:
    """Opt-ins (grants) and opt-outs (withdraws) per day of effect (in the current time
    zone) and source, the last 90 days: sums of the hourly tally rows, exact."""
    rows = (
        AnswerTally.objects.filter(hour__gte=chart_start(today=today))
        .order_by()
        .annotate(day=TruncDate("hour"))
        .values_list("day", "action", "source")
        .annotate(n=Sum("delta"))
    )
    return [
        {"day": day.isoformat(), "action": action, "source": source, "n": int(n)}
        for day, action, source, n in rows
        if n
    ]


def reconsent_funnel() -> dict | None:
    """The active policy's contacts asked again (a reminder, or a re-consent campaign's
    request that left since the policy began, alike), and where their marketing consent
    stands now."""
    policy = ReconsentPolicy.objects.filter(active=True).order_by("-created_at").first()
    if policy is None:
        return None
    figures = dict(
        ReconsentTally.objects.filter(policy_id=policy.pk)
        .order_by()
        .values_list("figure")
        .annotate(n=Sum("delta"))
    )
    return {
        "policy": policy.name,
        "policy_id": policy.pk,
        "deadline": policy.deadline,
        "reminded": int(figures.get(ASKED_FIGURE, 0)),
        "reconsented": int(figures.get(Status.OPTED_IN, 0)),
        "declined": int(figures.get(Status.OPTED_OUT, 0)),
    }


def opt_out_campaigns(*, today: date) -> list[dict]:
    """Campaigns (and their templates) whose messages were answered with an opt-out, 90 days."""
    counted = (
        AnswerTally.objects.filter(
            hour__gte=chart_start(today=today),
            action=Action.WITHDRAW,
            campaign_id__isnull=False,
        )
        .order_by()
        .values_list("campaign_id")
        .annotate(n=Sum("delta"))
        .filter(n__gt=0)
        .order_by("-n", "campaign_id")[:TOP_OPT_OUT_CAMPAIGNS]
    )
    opt_outs = dict(counted)
    campaigns = Campaign.objects.in_bulk(list(opt_outs))
    return [
        {
            "id": str(pk),
            "name": campaigns[pk].name,
            "template": campaigns[pk].template_name,
            "opt_outs": int(n),
        }
        for pk, n in opt_outs.items()
        if pk in campaigns
    ]


@dataclass(frozen=True)
class TopicTally:
    purpose: str
    key: str
    name: str
    kept: int
    left: int


def topic_tallies() -> list[TopicTally]:
    """Per topic offered: how many people keep it (opted in) and left it, exact, one query."""
    counts = dict(
        ((topic_id, status), n)
        for topic_id, status, n in TopicState.objects.order_by()
        .values_list("topic_id", "status")
        .annotate(n=Count("*"))
    )
    return [
        TopicTally(
            t.purpose,
            t.key,
            t.name("en"),
            counts.get((t.pk, Status.OPTED_IN), 0),
            counts.get((t.pk, Status.OPTED_OUT), 0),
        )
        for t in Topic.objects.filter(retired_at__isnull=True).order_by("purpose", "key")
    ]


@dataclass(frozen=True)
class Tally:
    count: int
    change: dict[int, int]  # days back -> net change over those days


def state_tallies(*, today: date | None = None) -> dict[str, dict[str, Tally]]:
    """{purpose: {status: Tally}} for every purpose and status, `none` included, in one query.

    A contact with no state for a purpose counts as `none`: contacts minus those in
    another status, and likewise for the changes.
    """
    today = today or tally_day()
    sums = {
        f"last_{days}": Sum("delta", filter=Q(day__gt=today - timedelta(days=days)))
        for days in CHANGE_WINDOWS
    }
    rows = (
        StateTally.objects.order_by()
        .values_list("purpose", "status")
        .annotate(total=Sum("delta"), **sums)
    )
    found: dict[tuple[str, str], Tally] = {}
    for purpose, status, total, *changes in rows:
        found[(purpose, status)] = Tally(
            int(total or 0), {d: int(c or 0) for d, c in zip(CHANGE_WINDOWS, changes, strict=True)}
        )
    nothing = Tally(0, dict.fromkeys(CHANGE_WINDOWS, 0))
    contacts = found.get((CONTACTS_PURPOSE, CONTACTS_STATUS), nothing)
    result: dict[str, dict[str, Tally]] = {}
    for purpose in Purpose.values:
        by_status = {
            status: found.get((purpose, status), nothing)
            for status in Status.values
            if status != Status.NONE
        }
        # A stored `none` state and no state at all read alike.
        result[purpose] = {
            **by_status,
            Status.NONE: Tally(
                contacts.count - sum(t.count for t in by_status.values()),
                {
                    d: contacts.change[d] - sum(t.change[d] for t in by_status.values())
                    for d in CHANGE_WINDOWS
                },
            ),
        }
    return result


# --- What the page reads -----------------------------------------------------------


@dataclass
class Card:
    purpose: str
    status: str
    count: int
    change_7: int
    change_30: int


def cards() -> list[Card]:
    """One card per purpose and status, exact as of the last commit (one query)."""
    tallies = state_tallies()
    return [
        Card(purpose, status, t.count, t.change[7], t.change[30])
        for purpose in Purpose.values
        for status in CARD_STATUSES
        if status in statuses_of(purpose)
        for t in [tallies[purpose][status]]
    ]


def campaigns_in_flight() -> list[tuple[Campaign, dict[str, int]]]:
    campaigns = campaigns_with_counts(
        Campaign.objects.filter(status__in=[CampaignStatus.LAUNCHED, CampaignStatus.SENDING])
    ).order_by("-launched_at")[:10]
    return [(c, counts_from_annotations(c)) for c in campaigns]


def work_waiting() -> list[tuple[str, int, str]]:
    """(what, how many, admin list URL name + query) for each queue a person must empty."""
    return [
        (
            "unapplied opt-outs to review",
            OutrankedOptOut.objects.filter(resolution=OutrankedOptOut.Resolution.PENDING).count(),
            "admin:consent_outrankedoptout_changelist",
        ),
        (
            "opt-outs not yet processed",
            InboundEvent.objects.filter(state="failed", carries_opt_out=True).count(),
            "admin:whatsapp_inboundevent_changelist",
        ),
        (
            "free-text messages to review",
            OptOutReview.objects.filter(decision=OptOutReview.Decision.PENDING).count(),
            "admin:conversation_optoutreview_changelist",
        ),
        (
            "likely duplicates",
            LikelyDuplicate.objects.filter(resolution="pending").count(),
            "admin:contacts_likelyduplicate_changelist",
        ),
        (
            "messages whose fate is unknown",
            OutboundMessage.objects.filter(status="unknown").count(),
            "admin:whatsapp_outboundmessage_changelist",
        ),
        (
            "failed imports",
            ContactImport.objects.filter(stage=ContactImport.Stage.FAILED).count(),
            "admin:imports_contactimport_changelist",
        ),
    ]
