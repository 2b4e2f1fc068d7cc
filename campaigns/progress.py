"""A campaign's progress as the admin's live bar reads it (one indexed query)."""

from typing import Any

from .models import Campaign, CampaignStatus, MessageStatus
from .selectors import campaign_counts

# Left to right on the bar: done well, on its way, waiting, then what did not go.
PROGRESS_ORDER = [
    MessageStatus.READ,
    MessageStatus.DELIVERED,
    MessageStatus.SENT,
    MessageStatus.SENDING,
    MessageStatus.QUEUED,
    MessageStatus.SKIPPED,
    MessageStatus.FAILED,
    MessageStatus.UNKNOWN,
]
WAITING = (MessageStatus.QUEUED, MessageStatus.SENDING)
LIVE = (CampaignStatus.LAUNCHED, CampaignStatus.SENDING)


def campaign_progress(campaign: Campaign) -> dict[str, Any]:
    counts = campaign_counts(campaign)
    total = sum(counts.values())
    done = total - sum(counts[s] for s in WAITING)
    summary = ", ".join(
        f"{MessageStatus(s).label}: {counts[s]}" for s in PROGRESS_ORDER if counts[s]
    )
    return {
        "status": campaign.status,
        "status_label": campaign.get_status_display(),
        # The page keeps asking while the campaign may still change.
        "live": campaign.status in LIVE,
        "counts": counts,
        "order": PROGRESS_ORDER,
        "total": total,
        "done": done,
        "summary": summary or "no messages yet",
    }
