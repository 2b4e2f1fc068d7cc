"""What the dashboard shows. State counts are sums of the tally rows triggers keep
(exact, one query); the chart and top campaigns are computed by `dashboard_figures`
for the snapshot beat refreshes (console.services); the rest are counts that
partial indexes answer: a constant number of queries at any size."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Message,
    MessageStatus,
    ReminderSent,
)
from campaigns.selectors import campaigns_with_counts, counts_from_annotations
from consent.models import (
    ConsentEvent,
    ConsentState,
    OutrankedOptOut,
    ReconsentPolicy,
    Topic,
    TopicState,
)
from consent.rules import Action, Purpose, Status
from contacts.models import Contact, LikelyDuplicate
from conversation.models import OptOutReview
from imports.models import ContactImport
from whatsapp.models import InboundEvent, OutboundMessage

from .models import CONTACTS_PURPOSE, CONTACTS_STATUS, DashboardSnapshot, StateTally

CHART_DAYS = 90
# A re-consent request that left: it asked the person again, whatever they answered.
ASKED = [MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ]
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


# --- Heavy figures, for the snapshot ---------------------------------------------


def daily_answers(
    *, today: date, since: datetime | None = None, until: datetime | None = None
) -> list[dict]:
    """Opt-ins (grants) and opt-outs (withdraws) per day of effect and source, 90 days
    (or those in effect from `since`, until `until`)."""
    start = since or timezone.make_aware(
        datetime.combine(today - timedelta(days=CHART_DAYS - 1), datetime.min.time())
    )
    # A purpose's answers: a topic's are counted per topic (topic_tallies).
    events = ConsentEvent.objects.filter(
        occurred_at__gte=start,
        action__in=[Action.GRANT, Action.WITHDRAW],
        applied=True,
        topic__isnull=True,
    )
    if until is not None:
        events = events.filter(occurred_at__lt=until)
    rows = (
        events.order_by()
        .annotate(day=TruncDate("occurred_at"))
        .values_list("day", "action", "source")
        .annotate(n=Count("*"))
    )
    return [
        {"day": day.isoformat(), "action": action, "source": source, "n": n}
        for day, action, source, n in rows
    ]


def reconsent_funnel(*, now: datetime) -> dict | None:
    """The active policy's legacy contacts: reminded, then re-consented, declined or expired."""
    policy = ReconsentPolicy.objects.filter(active=True).order_by("-created_at").first()
    if policy is None:
        return None
    # Asked again, either way: a policy's reminder, or a re-consent campaign's request
    # that went out (since the policy began).
    asked = Q(
        pk__in=ReminderSent.objects.filter(policy=policy, sent_at__isnull=False).values("contact")
    ) | Q(
        pk__in=Message.objects.filter(
            campaign__kind=CampaignKind.RECONSENT,
            campaign__launched_at__gte=policy.created_at,
            status__in=ASKED,
        ).values("contact")
    )
    reminded = Contact.objects.filter(asked)
    after_reminder = dict(
        ConsentState.objects.filter(contact__in=reminded.values("pk"), purpose=Purpose.MARKETING)
        .order_by()
        .values_list("status")
        .annotate(n=Count("*"))
    )
    legacy_now = ConsentState.objects.filter(status=Status.LEGACY).count()
    expired_now = ConsentState.objects.filter(status=Status.EXPIRED).count()
    return {
        "policy": policy.name,
        "policy_id": policy.pk,
        "deadline": policy.deadline.isoformat(),
        "legacy": legacy_now,
        "reminded": reminded.count(),
        "reconsented": after_reminder.get(Status.OPTED_IN, 0),
        "declined": after_reminder.get(Status.OPTED_OUT, 0),
        "expired": expired_now,
    }


def opt_out_campaigns(*, now: datetime) -> list[dict]:
    """Campaigns (and their templates) whose messages were answered with an opt-out, 90 days."""
    withdraws = ConsentEvent.objects.filter(
        action=Action.WITHDRAW,
        applied=True,
        occurred_at__gte=now - timedelta(days=CHART_DAYS),
    ).exclude(prompted_by_wamid="")
    rows = (
        Message.objects.filter(wamid__in=withdraws.values("prompted_by_wamid"))
        .order_by()
        .values_list("campaign_id", "campaign__name", "campaign__template_name")
        .annotate(n=Count("*"))
        .order_by("-n")[:TOP_OPT_OUT_CAMPAIGNS]
    )
    return [
        {"id": str(pk), "name": name, "template": template, "opt_outs": n}
        for pk, name, template, n in rows
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


def dashboard_figures(*, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    today = timezone.localdate(now)
    return {
        # Up to now: the page adds what takes effect after, live (daily_answers since then).
        "daily": daily_answers(today=today, until=now),
        "funnel": reconsent_funnel(now=now),
        "opt_out_campaigns": opt_out_campaigns(now=now),
    }


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
        for t in [tallies[purpose][status]]
    ]


def latest_snapshot() -> DashboardSnapshot | None:
    """The chart's and top campaigns' figures, as beat last counted them."""
    return DashboardSnapshot.objects.order_by("-day").first()


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
