"""What groups say to people on WhatsApp: the invitation (Accept / Decline and the answer
page link), the reply to a button answer, and a WhatsApp group's invite link after
acceptance. Each is queued in the outbox in the caller's transaction and delivered after
commit; what became of it comes back through `record_outbound_result`."""

import logging
import uuid
from functools import partial
from typing import cast

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from contacts.models import Contact
from conversation.outreach import address_of, require_address
from whatsapp import messages, outbox
from whatsapp.client import graph_client
from whatsapp.delivery import send_gate
from whatsapp.events import OutboundResult
from whatsapp.exceptions import WhatsAppError
from whatsapp.models import OutboundMessage

from .models import Group, GroupInvitation, GroupMembership, InvitationStatus

log = logging.getLogger(__name__)

INVITATION, INVITE_LINK = "groups.invitation", "groups.invite_link"


def send_invitation_message(*, invitation: GroupInvitation) -> GroupInvitation:
    """Queue (or queue again) the Accept / Decline message; it goes only if consent allows.

    Outside the 24 h window it is the GROUP_INVITATION_TEMPLATE template with quick replies.
    """
    contact, group = invitation.contact, invitation.group
    accept_id, decline_id = invitation.button_ids
    body = (
        f"You're invited to join “{group.name}”."
        + (f"\n\n{group.description[:400]}" if group.description else "")
        + f"\n\nAccept or decline here: {invitation.accept_url}"
        + f"\nThis invitation expires on {invitation.expires_at:%d %b %Y}."
    )
    try:
        address = require_address(contact)
        template = messages.template(
            address,
            settings.GROUP_INVITATION_TEMPLATE,
            contact.language or "en",
            [group.name, invitation.accept_url],
            [accept_id, decline_id],
        )
        outbox.enqueue_buttons(
            address=address,
            body=body,
            buttons=[(accept_id, "Accept"), (decline_id, "Decline")],
            footer="Nobody joins unless they accept.",
            fallback=template,
            contact_id=contact.pk,
            purpose=group.purpose,
            reason=f"invitation to {group.name}"[:200],
            # Sent again from the admin, an invitation has several messages.
            origin=f"{INVITATION}:{invitation.pk}:{uuid.uuid4().hex[:8]}",
        )
    except WhatsAppError as exc:
        log.warning("invitation %s not queued: %s", invitation.pk, exc)
        GroupInvitation.objects.filter(pk=invitation.pk).update(send_error=str(exc)[:1000])
        invitation.send_error = str(exc)[:1000]
    return invitation


def send_group_invite_link(*, invitation: GroupInvitation) -> None:
    """After acceptance of a real WhatsApp group: the platform's invite link, once.

    Call it in the transaction that records the acceptance. Without a known link, the
    link is fetched after commit (never inside a transaction), then queued.
    """
    group = invitation.group
    if not group.invite_link:
        transaction.on_commit(partial(_fetch_link_then_send, invitation.pk))
        return
    claimed = GroupInvitation.objects.filter(
        pk=invitation.pk, invite_link_sent_at__isnull=True
    ).update(invite_link_sent_at=timezone.now())
    if claimed != 1:
        return
    contact = invitation.contact
    body = (
        f"Welcome to “{group.name}”. Join the WhatsApp group here: {group.invite_link}\n"
        "We approve your request to join because you accepted the invitation."
    )
    try:
        address = require_address(contact)
        # Accepted on the page after the 24 h window closed: an approved template.
        template = messages.template(
            address,
            settings.GROUP_INVITE_LINK_TEMPLATE,
            contact.language or "en",
            [group.name, group.invite_link],
        )
        outbox.enqueue_text(
            address=address,
            body=body,
            fallback=template,
            contact_id=contact.pk,
            reason=f"invite link of {group.name}"[:200],
            origin=f"{INVITE_LINK}:{invitation.pk}",
        )
    except WhatsAppError as exc:
        log.warning("invite link for invitation %s not queued: %s", invitation.pk, exc)
        GroupInvitation.objects.filter(pk=invitation.pk).update(invite_link_sent_at=None)


def _fetch_link_then_send(invitation_id: uuid.UUID) -> None:
    invitation = GroupInvitation.objects.select_related("group", "contact").get(pk=invitation_id)
    group = invitation.group
    try:
        # Only WhatsApp groups send invite links (callers check), and an id is never cleared.
        link = graph_client().get_invite_link(cast(str, group.whatsapp_group_id))
    except WhatsAppError as exc:
        # The acceptance stands; `send_missing_invite_links` tries again later.
        log.warning("no invite link for group %s yet: %s", group.pk, exc)
        return
    with transaction.atomic():
        Group.objects.filter(pk=group.pk, invite_link="").update(invite_link=link)
        group.invite_link = group.invite_link or link
        send_group_invite_link(invitation=invitation)


def _send_text(*, contact: Contact, body: str, reason: str) -> None:
    address = address_of(contact)
    if address is None:
        return
    try:
        outbox.enqueue_text(address=address, body=body, contact_id=contact.pk, reason=reason)
    except WhatsAppError as exc:
        log.warning("reply to %s not queued: %s", contact.pk, exc)


def confirm_answer(*, invitation: GroupInvitation) -> None:
    """Short reply to a button answer (the person just wrote: the window is open)."""
    group, contact = invitation.group, invitation.contact
    if invitation.status == InvitationStatus.DECLINED:
        _send_text(
            contact=contact,
            body=f"Thanks — you have not joined “{group.name}”.",
            reason="invitation declined",
        )
        return
    if invitation.status != InvitationStatus.ACCEPTED or group.is_whatsapp_group:
        return  # a WhatsApp group's member already got its invite link
    membership = GroupMembership.objects.filter(invitation=invitation).first()
    address = address_of(contact)
    if membership is None or membership.left_at or address is None:
        return
    try:
        outbox.enqueue_buttons(
            address=address,
            body=f"You are now a member of “{group.name}”. You can leave at any time.",
            buttons=[(f"group:{membership.pk}:leave", "Leave group")],
            contact_id=contact.pk,
            reason="invitation accepted",
        )
    except WhatsAppError as exc:
        log.warning("confirmation of invitation %s not queued: %s", invitation.pk, exc)


def reply_refusal(*, invitation: GroupInvitation, reason: str) -> None:
    _send_text(
        contact=invitation.contact,
        body=f"Your answer to the invitation to “{invitation.group.name}” was not recorded: "
        f"{reason}.",
        reason="invitation answer refused",
    )


def send_missing_invite_links() -> int:
    """Invite links owed to members of WhatsApp groups whose link could not be fetched."""
    owed = GroupInvitation.objects.filter(
        status=InvitationStatus.ACCEPTED,
        invite_link_sent_at__isnull=True,
        membership__left_at__isnull=True,
        group__whatsapp_group_id__isnull=False,
        group__active=True,
    ).select_related("group", "contact")
    for invitation in owed:
        if invitation.group.invite_link:
            with transaction.atomic():
                send_group_invite_link(invitation=invitation)
        else:
            _fetch_link_then_send(invitation.pk)
    return len(owed)


# Why an invite link queued after acceptance no longer goes (its skip reason).
MEMBERSHIP_ENDED, GROUP_CLOSED = "membership_ended", "group_closed"


@send_gate
def invite_link_still_owed(row: OutboundMessage) -> str | None:
    """An invite link goes only while its invitation stands: accepted, a member, the group open.

    Queued with the acceptance, it may wait (an outage, a held send) while the person
    leaves the group or is erased, or staff close the group: then it is skipped. A stop
    of every message since it was queued is consent's to answer (`consent_gate`).
    """
    origin = row.origin or ""
    if not origin.startswith(f"{INVITE_LINK}:"):
        return None
    found = (
        GroupInvitation.objects.filter(pk=origin.split(":", 1)[1])
        .values_list("status", "membership__left_at", "group__active")
        .first()
    )
    if found is None:
        return MEMBERSHIP_ENDED
    status, left_at, active = found
    if status != InvitationStatus.ACCEPTED or left_at is not None:
        return MEMBERSHIP_ENDED
    return None if active else GROUP_CLOSED


def record_outbound_result(result: OutboundResult) -> None:
    """The invitation message went out (or did not): shown on the invitation."""
    if not result.origin.startswith(f"{INVITATION}:"):
        return
    invitation_id = result.origin.split(":")[1]
    if result.status == "accepted":
        GroupInvitation.objects.filter(pk=invitation_id).update(
            sent_at=timezone.now(), message_wamid=result.wamid, send_error=""
        )
    else:
        why = result.skip_reason or result.error_title or result.status
        GroupInvitation.objects.filter(pk=invitation_id).update(
            send_error=f"{result.status}: {why}"[:1000]
        )
