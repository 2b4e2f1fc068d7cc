"""A campaign follows its template: a re-categorisation moves the consent its remaining
messages need, and pauses it when that changes who may receive them; a template that is
no longer approved pauses it. Staff read why on the campaign, and resume it.

Runs in the transaction that applied the template webhook (or the sync), so by the time
the change is committed every remaining outbox row of the campaign is parked or moved;
the outbox's own template check covers the message a worker holds at that moment.
"""

from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from config.celery import registered_task
from consent.selectors import may_send_contacts
from staff.audit import record_audit
from whatsapp import outbox
from whatsapp.events import TemplateChanged
from whatsapp.message_templates import APPROVED

from .models import Campaign, CampaignStatus, Message, MessageStatus, TemplateChangeNotice
from .selectors import batched
from .services import OUTBOX_ORIGIN, send_batch_size
from .templates_in_use import campaign_languages, purpose_now

PARKED_BY = "campaign"
RUNNING = (CampaignStatus.LAUNCHED, CampaignStatus.SENDING)
_REMAINING = (MessageStatus.QUEUED, MessageStatus.SENDING)


def _origin_prefix(campaign: Campaign) -> str:
    return f"{OUTBOX_ORIGIN}:{campaign.pk}:"


def follow_template_change(*, event: TemplateChanged) -> list[Campaign]:
    """Apply a template change to the running campaigns that send it; returns those paused."""
    paused = []
    running = Campaign.objects.select_for_update().filter(
        status__in=RUNNING, template_name=event.name
    )
    # A paused one keeps waiting for staff, whatever the template does meanwhile.
    for waiting in Campaign.objects.filter(
        status=CampaignStatus.PAUSED, template_name=event.name
    ).only("pk", "paused_reason"):
        outbox.park_queued(
            origin_prefix=_origin_prefix(waiting), by=PARKED_BY, note=waiting.paused_reason
        )
    for campaign in running.order_by("pk"):
        language = event.language
        if language not in campaign_languages(campaign):
            continue
        status = event.changes.get("status")
        if status and status[1] != APPROVED:
            reason = (
                f"Template {event.name} ({language}) is now {status[1] or 'not approved'} on "
                "WhatsApp. Nothing more is sent; resume once it is approved again."
            )
            pause_campaign(campaign=campaign, reason=reason)
            paused.append(campaign)
        elif "category" in event.changes and _follow_category(campaign, event):
            paused.append(campaign)
    return paused


def _follow_category(campaign: Campaign, event: TemplateChanged) -> bool:
    before, after = event.changes["category"]
    new = purpose_now(campaign)
    if new == campaign.purpose:
        return False
    old = campaign.purpose
    remaining = list(
        Message.objects.filter(campaign=campaign, status__in=_REMAINING).values_list(
            "contact_id", flat=True
        )
    )
    lose = _losing_eligibility(remaining, old=old, new=new)
    Campaign.objects.filter(pk=campaign.pk).update(purpose=new)
    campaign.purpose = new
    outbox.move_queued_purpose(origin_prefix=_origin_prefix(campaign), purpose=new)
    moved = (
        f"Template {event.name} ({event.language}) was re-categorised {before or '?'} → "
        f"{after}: its messages now need {new} consent (was {old})."
    )
    if not lose:
        Campaign.objects.filter(pk=campaign.pk).update(template_notice=moved)
    else:
        pause_campaign(
            campaign=campaign,
            reason=f"{moved} {lose} of the {len(remaining)} people still to receive it do not "
            f"have {new} consent. Resume to send to those who do.",
        )
    TemplateChangeNotice.objects.create(
        campaign=campaign,
        template_name=event.name,
        language=event.language,
        category_before=before or "",
        category_after=after,
        paused=bool(lose),
    )
    return bool(lose)


def _losing_eligibility(contact_ids: list[Any], *, old: str, new: str) -> int:
    """How many of these were allowed `old` and are not allowed `new`."""
    lose = 0
    for chunk in batched(contact_ids, 5000):
        before = may_send_contacts(chunk, old)
        after = may_send_contacts(chunk, new)
        lose += sum(1 for pk in chunk if before[pk].allowed and not after[pk].allowed)
    return lose


def pause_campaign(*, campaign: Campaign, reason: str, actor: Any = None) -> bool:
    """Stop a running campaign where it stands: its queued messages wait, parked, unsent."""
    with transaction.atomic():
        paused = Campaign.objects.filter(pk=campaign.pk, status__in=RUNNING).update(
            status=CampaignStatus.PAUSED,
            paused_at=timezone.now(),
            paused_reason=reason,
            template_notice=reason,
        )
        if not paused:
            return False
        before = campaign.status
        campaign.refresh_from_db()
        outbox.park_queued(origin_prefix=_origin_prefix(campaign), by=PARKED_BY, note=reason)
        if actor is not None:
            record_audit(
                actor=actor,
                action="pause_campaign",
                obj=campaign,
                before={"status": before},
                after={"status": campaign.status, "reason": reason},
            )
    return True


def resume_campaign(*, campaign: Campaign, actor: Any) -> bool:
    """Staff resume a paused campaign: what waits goes, each message under today's purpose.

    The purpose is asked of the registry again; the consent gate asks each person at send.
    """
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status != CampaignStatus.PAUSED:
            return False
        purpose = purpose_now(campaign)
        fanned_out = campaign.fanned_out_at is not None
        status = CampaignStatus.SENDING if fanned_out else CampaignStatus.LAUNCHED
        Campaign.objects.filter(pk=campaign.pk).update(
            status=status, purpose=purpose, paused_reason="", paused_at=None
        )
        record_audit(
            actor=actor,
            action="resume_campaign",
            obj=campaign,
            before={"status": CampaignStatus.PAUSED.value, "reason": campaign.paused_reason},
            after={"status": status.value, "purpose": purpose},
        )
        outbox.unpark(origin_prefix=_origin_prefix(campaign), purpose=purpose)
        if not fanned_out:
            fan_out = registered_task("campaigns.tasks.fan_out_campaign").delay
            transaction.on_commit(partial(fan_out, str(campaign.pk)))
        else:
            _send_queued(campaign)
    return True


def _send_queued(campaign: Campaign) -> None:
    queued = (
        Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    send = registered_task("campaigns.tasks.send_campaign_batch").delay
    size = send_batch_size()
    for chunk in batched(queued.iterator(chunk_size=size), size):
        transaction.on_commit(partial(send, str(campaign.pk), chunk[0], chunk[-1]))
