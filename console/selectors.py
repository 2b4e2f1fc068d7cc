"""What the dashboard shows. Heavy figures are computed by `dashboard_figures` for the
snapshot beat refreshes (console.services); the page itself reads that row and a few
counts that partial indexes answer, a constant number of queries at any size."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, Message, ReminderSent
from campaigns.selectors import campaigns_with_counts, counts_from_annotations
from consent.models import (
    ConsentEvent,
    ConsentState,
    OutrankedOptOut,
    ReconsentPolicy,
)
from consent.rules import Action, Purpose, Status
from contacts.models import Contact, LikelyDuplicate
from conversation.models import OptOutReview
from imports.models import ContactImport
from whatsapp.models import InboundEvent, OutboundMessage

from .models import DashboardSnapshot

CHART_DAYS = 90
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


# --- Heavy figures, for the snapshot ---------------------------------------------


def state_counts() -> dict[str, dict[str, int]]:
    """Contacts per purpose and status; a contact with no state row counts as `none`."""
    counts = {p: dict.fromkeys(Status.values, 0) for p in Purpose.values}
    rows = ConsentState.objects.order_by().values_list("purpose", "status").annotate(n=Count("*"))
    for purpose, status, n in rows:
        counts.setdefault(purpose, dict.fromkeys(Status.values, 0))[status] = n
    contacts = Contact.objects.count()
    for by_status in counts.values():
        with_row = sum(n for s, n in by_status.items() if s != Status.NONE)
        by_status[Status.NONE] = max(contacts - with_row, 0)
    return counts


def daily_answers(*, today: date) -> list[dict]:
    """Opt-ins (grants) and opt-outs (withdraws) per day of effect and source, 90 days."""
    start = timezone.make_aware(
        datetime.combine(today - timedelta(days=CHART_DAYS - 1), datetime.min.time())
    )
    rows = (
        ConsentEvent.objects.filter(
            occurred_at__gte=start, action__in=[Action.GRANT, Action.WITHDRAW], applied=True
        )
        .order_by()
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
    reminded = ReminderSent.objects.filter(policy=policy, sent_at__isnull=False).values("contact")
    after_reminder = dict(
        ConsentState.objects.filter(contact__in=reminded)
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
        "reminded": sum(after_reminder.values()),
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


def dashboard_figures(*, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    today = timezone.localdate(now)
    return {
        "states": state_counts(),
        "daily": daily_answers(today=today),
        "funnel": reconsent_funnel(now=now),
        "opt_out_campaigns": opt_out_campaigns(now=now),
    }


# --- What the page reads -----------------------------------------------------------


@dataclass
class Card:
    purpose: str
    status: str
    count: int
    change_7: int | None
    change_30: int | None


def latest_snapshots() -> tuple[DashboardSnapshot | None, dict[int, DashboardSnapshot]]:
    """The newest snapshot, and those of 7 and 30 days before it, by days back (two queries)."""
    latest = DashboardSnapshot.objects.order_by("-day").first()
    if latest is None:
        return None, {}
    back = {latest.day - timedelta(days=days): days for days in (7, 30)}
    earlier = {back[s.day]: s for s in DashboardSnapshot.objects.filter(day__in=list(back))}
    return latest, earlier


def _count(snapshot: DashboardSnapshot | None, purpose: str, status: str) -> int | None:
    if snapshot is None:
        return None
    return snapshot.figures.get("states", {}).get(purpose, {}).get(status, 0)


def cards(latest: DashboardSnapshot, earlier: dict[int, DashboardSnapshot]) -> list[Card]:
    result = []
    for purpose in Purpose.values:
        for status in CARD_STATUSES:
            count = _count(latest, purpose, status) or 0
            changes = {}
            for days in (7, 30):
                before = _count(earlier.get(days), purpose, status)
                changes[days] = None if before is None else count - before
            result.append(Card(purpose, status, count, changes[7], changes[30]))
    return result


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
