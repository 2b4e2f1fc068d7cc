"""Writes of campaigns: launch, fan-out, the send-time gate, statuses from webhooks."""

import logging
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from consent import outreach
from consent.rules import Action, Purpose, Source
from consent.selectors import Reason, may_send, may_send_contacts
from consent.services import Evidence, record_consent
from contacts.models import Contact
from whatsapp import client as whatsapp_client
from whatsapp.exceptions import RateLimited, RecipientStoppedMarketing, WhatsAppError

from .exceptions import CampaignNotDraft
from .models import Campaign, CampaignKind, CampaignStatus, Message, MessageStatus
from .selectors import NO_WHATSAPP_ADDRESS, batched, campaign_audience, whatsapp_address

logger = logging.getLogger(__name__)

# The skip reason of messages still queued when their campaign was cancelled.
CANCELLED_REASON = "campaign_cancelled"


def send_batch_size() -> int:
    """How many messages one send task handles (and one fan-out insert writes)."""
    return settings.CAMPAIGN_SEND_BATCH_SIZE


def _tasks() -> Any:
    # tasks imports this module: import it when first needed, not at load time.
    from . import tasks

    return tasks


# --- Launch and fan-out ---------------------------------------------------------


def launch_campaign(*, campaign: Campaign, actor: AbstractBaseUser | None = None) -> Campaign:
    """Launch a draft campaign once; the fan-out starts after commit.

    Raises CampaignNotDraft when it was launched (or cancelled) already.
    """
    with transaction.atomic():
        # The conditional UPDATE is the claim: of two launches, one gets 1 row.
        launched = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.DRAFT).update(
            status=CampaignStatus.LAUNCHED, launched_at=timezone.now(), launched_by=actor
        )
        if launched != 1:
            current = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True)
            raise CampaignNotDraft(
                f"campaign is {current.first() or 'gone'}; only a draft can be launched"
            )
        transaction.on_commit(partial(_tasks().fan_out_campaign.delay, str(campaign.pk)))
    campaign.refresh_from_db()
    return campaign


def fan_out_campaign(*, campaign_id: Any) -> int:
    """Queue one Message per audience contact, then enqueue the send batches.

    Safe to run again (rows are unique per campaign × contact, and each send
    claims its row). All rows exist before the first batch is enqueued, so
    "nothing queued" means the campaign is done. Returns the number of batches.
    """
    Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.LAUNCHED).update(
        status=CampaignStatus.SENDING
    )
    campaign = Campaign.objects.get(pk=campaign_id)
    if campaign.status != CampaignStatus.SENDING:
        return 0
    size = send_batch_size()
    contact_ids = campaign_audience(campaign).order_by().values_list("pk", flat=True)
    for chunk in batched(contact_ids.iterator(chunk_size=size), size):
        Message.objects.bulk_create(
            [Message(campaign=campaign, contact_id=pk) for pk in chunk], ignore_conflicts=True
        )
    queued = (
        Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    ranges = [(c[0], c[-1]) for c in batched(queued.iterator(chunk_size=size), size)]
    send = _tasks().send_campaign_batch.delay
    for first, last in ranges:
        transaction.on_commit(partial(send, str(campaign.pk), first, last))
    if not ranges:
        finish_campaign_if_done(campaign_id=campaign.pk)
    return len(ranges)


def send_campaign_batch(*, campaign_id: Any, first_message_id: int, last_message_id: int) -> None:
    """Send the still-queued messages of one batch, then close the campaign if all are done."""
    campaign = Campaign.objects.get(pk=campaign_id)
    batch = Message.objects.filter(
        campaign=campaign,
        pk__gte=first_message_id,
        pk__lte=last_message_id,
        status=MessageStatus.QUEUED,
    )
    if campaign.status == CampaignStatus.CANCELLED:
        batch.update(
            status=MessageStatus.SKIPPED,
            skip_reason=CANCELLED_REASON,
            skipped_at=timezone.now(),
        )
        return
    _skip_refused(campaign, batch)
    for message in batch.select_related("contact").order_by("pk"):
        send_campaign_message(campaign=campaign, message=message)
    finish_campaign_if_done(campaign_id=campaign.pk)


def _skip_refused(campaign: Campaign, batch: QuerySet[Message]) -> None:
    """Skip, in a few UPDATEs, the messages consent refuses now.

    Skipping early never sends anything; every message that is sent is still
    checked on its own just before it goes.
    """
    rows = list(batch.values_list("pk", "contact_id", "contact__wa_id", "contact__phone"))
    decisions = may_send_contacts([contact_id for _, contact_id, _, _ in rows], campaign.purpose)
    refused: dict[str, list[int]] = {}
    for pk, contact_id, wa_id, phone in rows:
        decision = decisions[contact_id]
        if not decision.allowed:
            refused.setdefault(decision.reason, []).append(pk)
        elif not (wa_id or phone):
            refused.setdefault(NO_WHATSAPP_ADDRESS, []).append(pk)
    now = timezone.now()
    for reason, pks in refused.items():
        batch.filter(pk__in=pks).update(
            status=MessageStatus.SKIPPED, skip_reason=reason, skipped_at=now
        )


def finish_campaign_if_done(*, campaign_id: Any) -> bool:
    if Message.objects.filter(campaign_id=campaign_id, status=MessageStatus.QUEUED).exists():
        return False
    done = Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SENDING).update(
        status=CampaignStatus.DONE, finished_at=timezone.now()
    )
    return done == 1


@transaction.atomic
def cancel_campaign(*, campaign: Campaign) -> int:
    """Stop a campaign: what is still queued is skipped. Returns how many were skipped."""
    Campaign.objects.filter(
        pk=campaign.pk,
        status__in=[CampaignStatus.DRAFT, CampaignStatus.LAUNCHED, CampaignStatus.SENDING],
    ).update(status=CampaignStatus.CANCELLED, finished_at=timezone.now())
    campaign.refresh_from_db()
    return Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED).update(
        status=MessageStatus.SKIPPED, skip_reason=CANCELLED_REASON, skipped_at=timezone.now()
    )


# --- One send: claim, gate, send ------------------------------------------------


def _render_params(params: list[str], contact: Contact) -> list[str]:
    return [str(p).replace("{name}", contact.name or "") for p in params]


def _deliver(campaign: Campaign, contact: Contact, to: str) -> Any:
    if campaign.kind == CampaignKind.RECONSENT:
        return send_one_tap(
            contact=contact, purposes=[campaign.purpose], reason=f"campaign:{campaign.pk}"
        )
    return whatsapp_client.get_client().send_template(
        to=to,
        name=campaign.template_name,
        language=campaign.template_language,
        body_params=_render_params(campaign.body_params, contact),
        contact=contact,
    )


def send_one_tap(
    *, contact: Contact, purposes: list[str], reason: str, template_name: str = ""
) -> Any:
    try:
        return outreach.send_one_tap_opt_in(
            contact=contact, purposes=purposes, reason=reason, template_name=template_name
        )
    except outreach.NoNoticeToShow as exc:
        # Nobody is asked without the wording: a final failure, like a refused message.
        raise WhatsAppError(str(exc), title="no published notice to show") from exc


def _settle(message: Message, **fields: Any) -> None:
    """Record the outcome of a claimed send (only while it is still ours)."""
    Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(**fields)


def send_campaign_message(*, campaign: Campaign, message: Message) -> None:
    """Send one queued message if consent allows it now; at most once, whatever the retries.

    Raises RateLimited (the message is queued again) so that the task retries.
    """
    # Two workers, or a retried task, may hold the same message: one claim wins.
    claimed = Message.objects.filter(pk=message.pk, status=MessageStatus.QUEUED).update(
        status=MessageStatus.SENDING, claimed_at=timezone.now()
    )
    if claimed != 1:
        return
    contact = message.contact
    # The send-time gate: the state now, not when the campaign was planned.
    decision = may_send(contact, campaign.purpose)
    to = whatsapp_address(contact)
    if not decision.allowed or not to:
        _settle(
            message,
            status=MessageStatus.SKIPPED,
            skip_reason=decision.reason if not decision.allowed else NO_WHATSAPP_ADDRESS,
            skipped_at=timezone.now(),
        )
    else:
        try:
            outbound = _deliver(campaign, contact, to)
        except RateLimited:
            # Not accepted by WhatsApp: safe to send again on retry.
            Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
                status=MessageStatus.QUEUED, claimed_at=None
            )
            raise
        except RecipientStoppedMarketing as exc:
            _fail(message, exc)
            _record_platform_opt_out(contact, campaign, exc)
        except WhatsAppError as exc:
            # Anything else (including a timeout: it may have been accepted) is
            # final: a message is never sent twice.
            _fail(message, exc)
        else:
            _settle(
                message,
                status=MessageStatus.SENT,
                wamid=outbound.wamid or None,
                sent_at=timezone.now(),
            )


def _fail(message: Message, exc: WhatsAppError) -> None:
    logger.info("campaign message %s failed: %s", message.pk, exc)
    _settle(
        message,
        status=MessageStatus.FAILED,
        error_code=str(exc.code or ""),
        error_title=(exc.title or str(exc))[:512],
        failed_at=timezone.now(),
    )


def _record_platform_opt_out(contact: Contact, campaign: Campaign, exc: WhatsAppError) -> None:
    # The WhatsApp channel may have recorded it already (its "send_failed"
    # handlers): one withdraw is the proof, a second adds nothing.
    if may_send(contact, Purpose.MARKETING).reason == Reason.OPTED_OUT:
        return
    record_consent(
        contact=contact,
        purpose=Purpose.MARKETING,
        action=Action.WITHDRAW,
        source=Source.WHATSAPP_PLATFORM,
        evidence=Evidence(
            note=f"WhatsApp refused a campaign message: error {exc.code} ({exc.title})",
            context={"campaign": str(campaign.pk), "error_code": exc.code},
        ),
        keep_if_inapplicable=True,
    )


# --- Statuses from the webhook ----------------------------------------------------

_STATUS_TIME = {
    MessageStatus.SENT: "sent_at",
    MessageStatus.DELIVERED: "delivered_at",
    MessageStatus.READ: "read_at",
    MessageStatus.FAILED: "failed_at",
}

_Q, _SG, _ST, _D = (
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
)
# Status → the statuses it may replace. Statuses arrive in any order; a message
# never moves backwards (a late `delivered` leaves `read`), a delivered message
# cannot have failed, and a failed one stays failed.
_MAY_REPLACE = {
    MessageStatus.SENT: {_Q, _SG},
    MessageStatus.DELIVERED: {_Q, _SG, _ST},
    MessageStatus.READ: {_Q, _SG, _ST, _D},
    MessageStatus.FAILED: {_Q, _SG, _ST},
}


def record_message_status(
    *, wamid: str, status: str, at: datetime, errors: list[tuple[int, str]] | None = None
) -> Message | None:
    """Apply a webhook status to the campaign message it names (None if it names none).

    The time of every status is recorded, even when the status itself is stale.
    """
    if status not in _STATUS_TIME or not wamid:
        return None
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(wamid=wamid).first()
        if message is None:
            return None
        setattr(message, _STATUS_TIME[status], at)
        fields = [_STATUS_TIME[status]]
        if message.status in _MAY_REPLACE[status]:
            message.status = status
            fields.append("status")
        if errors:
            code, title = errors[0]
            message.error_code, message.error_title = str(code), (title or "")[:512]
            fields += ["error_code", "error_title"]
        message.save(update_fields=fields)
    return message
