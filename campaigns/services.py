"""Writes of campaigns: launch, fan-out, handing batches to the outbox, statuses.

A campaign message leaves through the WhatsApp outbox: a batch task turns its
queued messages into outbox rows in one transaction, the outbox asks consent
again at the moment each one goes, and tells us what became of it
(`record_send_result`). Statuses from webhooks only move a message forward.
"""

import logging
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from config.celery import registered_task
from consent.number_scope import many_through_number
from consent.selectors import may_send_contacts
from contacts.models import Contact
from conversation import outreach
from staff.audit import record_audit
from whatsapp import messages, outbox
from whatsapp.addressing import whatsapp_address
from whatsapp.events import OutboundResult
from whatsapp.exceptions import WhatsAppError
from whatsapp.models import OutboundMessage

from . import sql
from .exceptions import CampaignNotDraft
from .fanout import queue_messages
from .models import Campaign, CampaignKind, CampaignStatus, Message, MessageStatus
from .selectors import NO_WHATSAPP_ADDRESS, batched
from .signals import campaign_finished

logger = logging.getLogger(__name__)

# The skip reason of messages still queued when their campaign was cancelled.
CANCELLED_REASON = "campaign_cancelled"


def send_batch_size() -> int:
    """How many messages one send task handles (and one fan-out insert writes)."""
    return settings.CAMPAIGN_SEND_BATCH_SIZE


# --- Launch and fan-out ---------------------------------------------------------


def launch_campaign(*, campaign: Campaign, actor: AbstractBaseUser | Any = None) -> Campaign:
    """Launch a draft campaign once; the fan-out starts after commit.

    `actor` is the staff user or API key (audited). Raises CampaignNotDraft when
    it was launched (or cancelled) already.
    """
    with transaction.atomic():
        # The conditional UPDATE is the claim: of two launches, one gets 1 row.
        launched_by = actor if isinstance(actor, AbstractBaseUser) else None
        launched = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.DRAFT).update(
            status=CampaignStatus.LAUNCHED, launched_at=timezone.now(), launched_by=launched_by
        )
        if launched != 1:
            current = (
                Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
            )
            raise CampaignNotDraft(
                f"campaign is {current or 'gone'}; only a draft can be launched",
                current_status=current or "",
            )
        if actor is not None:
            record_audit(
                actor=actor,
                action="launch_campaign",
                obj=campaign,
                before={"status": CampaignStatus.DRAFT.value},
                after={"status": CampaignStatus.LAUNCHED.value},
            )
        transaction.on_commit(
            partial(registered_task("campaigns.tasks.fan_out_campaign").delay, str(campaign.pk))
        )
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
    # INSERT … SELECT in the database; batches are message id ranges, none read back.
    ranges = queue_messages(campaign=campaign, batch_size=send_batch_size())
    send = registered_task("campaigns.tasks.send_campaign_batch").delay
    for first, last in ranges:
        transaction.on_commit(partial(send, str(campaign.pk), first, last))
    # From here on the campaign's status follows its messages.
    Campaign.objects.filter(pk=campaign.pk, fanned_out_at__isnull=True).update(
        fanned_out_at=timezone.now()
    )
    if not ranges:
        finish_campaign_if_done(campaign_id=campaign.pk)
    return len(ranges)


# --- Sending: each batch handed to the outbox ------------------------------------------

OUTBOX_ORIGIN = "campaigns.message"
REMINDER_ORIGIN = "campaigns.reminder"
# Outbox row ids are derived from the message: one row per message, whoever queues it.
_OUTBOX_IDS = uuid.UUID("8d1b7a52-3f0e-4c55-9a1c-2f6a0f4a9e11")
# A queued message of a sending campaign this old had its batch task die.
STALLED_AFTER = timedelta(minutes=10)


def outbox_origin(message: Message) -> str:
    return f"{OUTBOX_ORIGIN}:{message.campaign_id}:{message.pk}"


def send_campaign_batch(*, campaign_id: Any, first_message_id: int, last_message_id: int) -> int:
    """Queue the batch's still-queued messages in the outbox, in one transaction.

    Refusals known now are skipped here in a few UPDATEs; the check that counts is
    the outbox's, just before each message goes. Run twice, or by two workers, a
    batch queues each message once (its outbox row's id is derived from it).
    Returns how many were queued.
    """
    campaign = Campaign.objects.select_related("sending_number").get(pk=campaign_id)
    batch = Message.objects.filter(
        campaign=campaign,
        pk__gte=first_message_id,
        pk__lte=last_message_id,
        status=MessageStatus.QUEUED,
    )
    if campaign.status == CampaignStatus.PAUSED:
        # They wait, queued, until staff resume the campaign (which sends them again).
        return 0
    if campaign.status == CampaignStatus.CANCELLED:
        batch.update(
            status=MessageStatus.SKIPPED,
            skip_reason=CANCELLED_REASON,
            skipped_at=timezone.now(),
        )
        return 0
    _skip_refused(campaign, batch)
    with transaction.atomic():
        # skip_locked: rows another worker is queueing right now are its own.
        picked = list(
            batch.select_related("contact")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("pk")
        )
        windows = _open_windows(campaign, picked)
        rows, handed, failed = [], [], []
        for message in picked:
            try:
                rows.append(_outbox_row(campaign, message, windows))
                handed.append(message.pk)
            except (WhatsAppError, outreach.NoNoticeToShow) as exc:
                failed.append((message, exc))
        now = timezone.now()
        Message.objects.filter(pk__in=handed).update(status=MessageStatus.SENDING, claimed_at=now)
        for message, error in failed:
            _fail(message, error, at=now)
        outbox.enqueue_rows(rows)
    finish_campaign_if_done(campaign_id=campaign.pk)
    return len(rows)


def _render_params(params: list[str], contact: Contact) -> list[str]:
    return [str(p).replace("{name}", contact.name or "") for p in params]


def _open_windows(campaign: Campaign, picked: list[Message]) -> set[str]:
    if campaign.kind != CampaignKind.RECONSENT:
        return set()
    keys: list[str] = []
    for message in picked:
        address = outreach.address_of(message.contact)
        keys.extend(address.keys if address else ())
    return messages.open_windows(keys)


def _outbox_row(campaign: Campaign, message: Message, windows: set[str]) -> OutboundMessage:
    row = _unsent_row(campaign, message, windows)
    if campaign.sending_number_id is not None:
        # It goes out from the campaign's number, and the send gate asks for that number.
        row.phone_number_id = campaign.phone_number_id
    return row


def _unsent_row(campaign: Campaign, message: Message, windows: set[str]) -> OutboundMessage:
    contact = message.contact
    origin = outbox_origin(message)
    row_id = uuid.uuid5(_OUTBOX_IDS, origin)
    reason = f"campaign:{campaign.pk}"
    if campaign.kind == CampaignKind.RECONSENT:
        address = outreach.require_address(contact)
        return outreach.one_tap_opt_in(
            contact=contact,
            purposes=[campaign.purpose],
            reason=reason,
            origin=origin,
            in_window=any(key in windows for key in address.keys),
            purpose=campaign.purpose,
            row_id=row_id,
        )
    address = outreach.require_address(contact)
    return outbox.new_row(
        kind=OutboundMessage.Kind.TEMPLATE,
        to=address.value,
        payload=messages.template(
            address,
            campaign.template_name,
            campaign.language_for(contact.language),
            _render_params(campaign.body_params, contact),
        ),
        contact_id=contact.pk,
        reason=reason,
        origin=origin,
        purpose=campaign.purpose,
        row_id=row_id,
    )


def _skip_refused(campaign: Campaign, batch: QuerySet[Message]) -> None:
    """Skip, in a few UPDATEs, the messages consent refuses now or nothing can reach."""
    rows = list(
        batch.values_list(
            "pk",
            "contact_id",
            "contact__wa_id",
            "contact__phone",
            "contact__whatsapp_user_id",
            "contact__parent_user_id",
        )
    )
    # Sent from the campaign's number: in `number` stop scope, a stop on another one binds not.
    decisions = many_through_number(
        may_send_contacts([row[1] for row in rows], campaign.purpose),
        purpose=campaign.purpose,
        sending_number=campaign.phone_number_id,
    )
    refused: dict[str, list[int]] = {}
    for pk, contact_id, wa_id, phone, user_id, parent_user_id in rows:
        decision = decisions[contact_id]
        if not decision.allowed:
            refused.setdefault(decision.reason, []).append(pk)
        elif (
            whatsapp_address(
                phone=phone, wa_id=wa_id, user_id=user_id, parent_user_id=parent_user_id
            )
            is None
        ):
            refused.setdefault(NO_WHATSAPP_ADDRESS, []).append(pk)
    now = timezone.now()
    for reason, pks in refused.items():
        batch.filter(pk__in=pks).update(
            status=MessageStatus.SKIPPED, skip_reason=reason, skipped_at=now
        )


def _fail(message: Message, exc: Exception, *, at: datetime) -> None:
    logger.info("campaign message %s failed: %s", message.pk, exc)
    code = getattr(exc, "code", None)
    title = getattr(exc, "title", "") or str(exc)
    Message.objects.filter(pk=message.pk, status=MessageStatus.QUEUED).update(
        status=MessageStatus.FAILED,
        error_code=str(code or ""),
        error_title=title[:512],
        failed_at=at,
    )


@transaction.atomic
def finish_campaign_if_done(*, campaign_id: Any) -> bool:
    """The status follows the messages: `done` once none is queued or on its way.

    Sent, failed, skipped and unknown messages are all settled; an unknown one waits
    for staff in the outbox, not in the campaign.
    """
    in_flight = Message.objects.filter(
        campaign_id=campaign_id, status__in=[MessageStatus.QUEUED, MessageStatus.SENDING]
    )
    if in_flight.exists():
        return False
    done = Campaign.objects.filter(
        pk=campaign_id, status=CampaignStatus.SENDING, fanned_out_at__isnull=False
    ).update(status=CampaignStatus.DONE, finished_at=timezone.now())
    if done:
        campaign_finished.send(sender=Campaign, campaign_id=campaign_id)
    return done == 1


@transaction.atomic
def cancel_campaign(*, campaign: Campaign, actor: Any = None) -> int:
    """Stop a campaign: what is still queued, here or in the outbox, is skipped.

    Returns how many messages were skipped; `actor` (staff user or API key) is audited.
    """
    before = campaign.status
    Campaign.objects.filter(
        pk=campaign.pk,
        status__in=[
            CampaignStatus.DRAFT,
            CampaignStatus.LAUNCHED,
            CampaignStatus.SENDING,
            CampaignStatus.PAUSED,
        ],
    ).update(status=CampaignStatus.CANCELLED, finished_at=timezone.now())
    campaign.refresh_from_db()
    now = timezone.now()
    skipped = Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED).update(
        status=MessageStatus.SKIPPED, skip_reason=CANCELLED_REASON, skipped_at=now
    )
    origins = outbox.cancel_queued(
        origin_prefix=f"{OUTBOX_ORIGIN}:{campaign.pk}:", reason=CANCELLED_REASON
    )
    message_ids = [int(origin.rsplit(":", 1)[1]) for origin in origins]
    for chunk in batched(message_ids, 1000):
        skipped += Message.objects.filter(pk__in=chunk, status=MessageStatus.SENDING).update(
            status=MessageStatus.SKIPPED, skip_reason=CANCELLED_REASON, skipped_at=now
        )
    if actor is not None:
        record_audit(
            actor=actor,
            action="cancel_campaign",
            obj=campaign,
            before={"status": before},
            after={"status": campaign.status, "skipped": skipped},
        )
    return skipped


def send_one_tap(
    *, contact: Contact, purposes: list[str], reason: str, template_name: str = "", origin: str
) -> OutboundMessage:
    """Queue the one-tap opt-in; no published wording is a final failure, like a refusal."""
    try:
        return outreach.send_one_tap_opt_in(
            contact=contact,
            purposes=purposes,
            reason=reason,
            template_name=template_name,
            origin=origin,
        )
    except outreach.NoNoticeToShow as exc:
        # Nobody is asked without the wording.
        raise WhatsAppError(str(exc), title="no published notice to show") from exc


# --- What the outbox did with a message -------------------------------------------------

# outbox status → (message status, the statuses it may replace)
# Keyed by status value: results and webhooks carry plain strings.
_FROM_OUTBOX: dict[str, tuple[MessageStatus, set[MessageStatus]]] = {
    OutboundMessage.Status.ACCEPTED: (
        MessageStatus.SENT,
        {MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.UNKNOWN},
    ),
    OutboundMessage.Status.FAILED: (
        MessageStatus.FAILED,
        {MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.UNKNOWN},
    ),
    OutboundMessage.Status.SKIPPED: (
        MessageStatus.SKIPPED,
        {MessageStatus.QUEUED, MessageStatus.SENDING},
    ),
    OutboundMessage.Status.UNKNOWN: (MessageStatus.UNKNOWN, {MessageStatus.SENDING}),
}


def record_send_result(*, result: OutboundResult) -> bool:
    """Apply the outbox's outcome to the campaign message it carried; True if it changed.

    The campaign's own status follows once the delivery run is over (`finish_campaigns_of`).
    """
    message_id = result.origin.rsplit(":", 1)[1]
    if result.status not in _FROM_OUTBOX:
        return False
    status, replaces = _FROM_OUTBOX[result.status]
    now = timezone.now()
    fields: dict[str, Any] = {"status": status}
    if status == MessageStatus.SENT:
        fields.update(wamid=result.wamid or None, sent_at=now)
    elif status == MessageStatus.FAILED:
        fields.update(
            error_code=str(result.error_code or ""),
            error_title=result.error_title[:512],
            failed_at=now,
        )
    elif status == MessageStatus.SKIPPED:
        fields.update(skip_reason=result.skip_reason[:32], skipped_at=now)
    # One statement compiled once per shape: this runs for every message a campaign sends.
    return sql.update_message_if_status(int(message_id), fields, sorted(replaces))


def finish_campaigns_of(*, origins: list[str]) -> None:
    """After a delivery run: each campaign it touched is done once nothing is in flight."""
    prefix = f"{OUTBOX_ORIGIN}:"
    for campaign_id in {o.split(":")[1] for o in origins if o.startswith(prefix)}:
        finish_campaign_if_done(campaign_id=campaign_id)


def _message_sent_as(outbound_id: str) -> Message | None:
    """The campaign message an outbox row carried (locked), if it has no wamid yet."""
    try:
        outbound_id = str(uuid.UUID(outbound_id))
    except ValueError:
        return None
    origin = (
        OutboundMessage.objects.filter(pk=outbound_id, origin__startswith=f"{OUTBOX_ORIGIN}:")
        .values_list("origin", flat=True)
        .first()
    )
    if origin is None:
        return None
    message_id = int(origin.rsplit(":", 1)[1])
    return Message.objects.select_for_update().filter(pk=message_id, wamid__isnull=True).first()


# --- Resuming what died ------------------------------------------------------------------


def stalled_fan_outs(*, now: datetime | None = None) -> list[Any]:
    """Campaigns whose fan-out task died before every message existed."""
    before = (now or timezone.now()) - STALLED_AFTER
    return list(
        Campaign.objects.filter(
            status__in=[CampaignStatus.LAUNCHED, CampaignStatus.SENDING],
            fanned_out_at__isnull=True,
            launched_at__lt=before,
        ).values_list("pk", flat=True)
    )


def stalled_batches(*, now: datetime | None = None) -> Iterator[tuple[Any, int, int]]:
    """(campaign, first, last) id ranges of queued messages whose batch task died.

    Also brings every sending campaign's status up to date with its messages.
    """
    before = (now or timezone.now()) - STALLED_AFTER
    size = send_batch_size()
    sending = Campaign.objects.filter(status=CampaignStatus.SENDING, fanned_out_at__isnull=False)
    for campaign_id in sending.values_list("pk", flat=True):
        queued = (
            Message.objects.filter(
                campaign_id=campaign_id, status=MessageStatus.QUEUED, created_at__lt=before
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for chunk in batched(queued.iterator(chunk_size=size), size):
            yield campaign_id, chunk[0], chunk[-1]
        finish_campaign_if_done(campaign_id=campaign_id)


# --- Statuses from the webhook ----------------------------------------------------

_STATUS_TIME: dict[str, str] = {
    MessageStatus.SENT: "sent_at",
    MessageStatus.DELIVERED: "delivered_at",
    MessageStatus.READ: "read_at",
    MessageStatus.FAILED: "failed_at",
}

_Q, _SG, _U, _ST, _D, _R = (
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
    MessageStatus.UNKNOWN,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.READ,
)
# Status → the statuses it may replace. Statuses arrive in any order and a
# message never moves backwards: a late `delivered` leaves `read`, and a failed
# one stays failed.
_MAY_REPLACE: dict[str, set[MessageStatus]] = {
    MessageStatus.SENT: {_Q, _SG, _U},
    MessageStatus.DELIVERED: {_Q, _SG, _U, _ST},
    MessageStatus.READ: {_Q, _SG, _U, _ST, _D},
    MessageStatus.FAILED: {_Q, _SG, _U, _ST},
}


def record_message_status(
    *,
    wamid: str,
    status: str,
    at: datetime,
    errors: list[tuple[int, str]] | None = None,
    outbound_id: str = "",
) -> Message | None:
    """Apply a webhook status to the campaign message it names (None if it names none).

    The time of every status is recorded, even when the status itself is stale. A
    `failed` after `delivered` or `read` is kept as the message's late failure: shown,
    and the delivered history left as it was. A status that comes before the answer to
    our send was recorded (or for a send whose answer never came) finds its message by
    the outbox row id the message carried, and gives it its wamid.
    """
    if status not in _STATUS_TIME or not wamid:
        return None
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(wamid=wamid).first()
        if message is None:
            message = _message_sent_as(outbound_id)
            if message is None:
                return None
            message.wamid = wamid
            message.save(update_fields=["wamid"])
        setattr(message, _STATUS_TIME[status], at)
        fields = [_STATUS_TIME[status]]
        code, title = errors[0] if errors else ("", "")
        if message.status in _MAY_REPLACE[status]:
            message.status = status
            fields.append("status")
            if errors:
                message.error_code, message.error_title = str(code), (title or "")[:512]
                fields += ["error_code", "error_title"]
        elif status == MessageStatus.FAILED and message.status in (_D, _R):
            message.late_failure_code = str(code or "")
            message.late_failure_title = (title or "failed after delivery")[:512]
            fields += ["late_failure_code", "late_failure_title"]
        message.save(update_fields=fields)
    return message
