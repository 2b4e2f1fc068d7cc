"""What groups say to people on WhatsApp: the invitation (Accept / Decline and the answer
page link), the reply to a button answer, and a WhatsApp group's invite link after
acceptance. Every send goes through `whatsapp.client.get_client()`; a failed send is logged
and recorded, never raised into the answer that caused it."""

import logging

from django.conf import settings
from django.utils import timezone

from contacts.models import Contact
from whatsapp.client import get_client
from whatsapp.exceptions import OutsideServiceWindow, WhatsAppError

from . import platform
from .models import Group, GroupInvitation, GroupMembership, InvitationStatus

log = logging.getLogger(__name__)


def _to(contact: Contact) -> str:
    return contact.wa_id or str(contact.phone)


def send_invitation_message(*, invitation: GroupInvitation) -> GroupInvitation:
    """Send (or re-send) the Accept / Decline message; a failure is recorded, not raised."""
    contact, group = invitation.contact, invitation.group
    to = _to(contact)
    accept_id, decline_id = invitation.button_ids
    body = (
        f"You're invited to join “{group.name}”."
        + (f"\n\n{group.description[:400]}" if group.description else "")
        + f"\n\nAccept or decline here: {invitation.accept_url}"
        + f"\nThis invitation expires on {invitation.expires_at:%d %b %Y}."
    )
    client = get_client()
    try:
        try:
            message = client.send_buttons(
                to=to,
                body=body,
                buttons=[(accept_id, "Accept"), (decline_id, "Decline")],
                contact=contact,
                footer="Nobody joins unless they accept.",
            )
        except OutsideServiceWindow:
            # Interactive messages only reach people inside the 24 h window.
            message = client.send_template(
                to=to,
                name=getattr(settings, "GROUP_INVITATION_TEMPLATE", "group_invitation"),
                language=contact.language or "en",
                body_params=[group.name, invitation.accept_url],
                quick_reply_payloads=[accept_id, decline_id],
                contact=contact,
            )
    except WhatsAppError as exc:
        log.warning("invitation %s not sent: %s", invitation.pk, exc)
        GroupInvitation.objects.filter(pk=invitation.pk).update(send_error=str(exc)[:1000])
        invitation.send_error = str(exc)[:1000]
        return invitation
    invitation.sent_at = timezone.now()
    invitation.message_wamid = message.wamid or ""
    invitation.send_error = ""
    GroupInvitation.objects.filter(pk=invitation.pk).update(
        sent_at=invitation.sent_at, message_wamid=invitation.message_wamid, send_error=""
    )
    return invitation


def send_group_invite_link(*, invitation: GroupInvitation) -> None:
    """After acceptance of a real WhatsApp group: the platform's invite link, once."""
    group, contact = invitation.group, invitation.contact
    if not group.invite_link:
        try:
            group.invite_link = platform.get_client().get_invite_link(group.whatsapp_group_id)
        except platform.PlatformError as exc:
            # The acceptance stands; `send_missing_invite_links` tries again later.
            log.warning("no invite link for group %s yet: %s", group.pk, exc)
            return
        Group.objects.filter(pk=group.pk).update(invite_link=group.invite_link)
    claimed = GroupInvitation.objects.filter(
        pk=invitation.pk, invite_link_sent_at__isnull=True
    ).update(invite_link_sent_at=timezone.now())
    if claimed != 1:
        return
    to = _to(contact)
    client = get_client()
    try:
        try:
            client.send_text(
                to=to,
                body=(
                    f"Welcome to “{group.name}”. Join the WhatsApp group here: "
                    f"{group.invite_link}\nWe approve your request to join because you "
                    "accepted the invitation."
                ),
                contact=contact,
            )
        except OutsideServiceWindow:
            # Accepted on the page after the 24 h window closed: an approved template.
            client.send_template(
                to=to,
                name=getattr(settings, "GROUP_INVITE_LINK_TEMPLATE", "group_invite_link"),
                language=contact.language or "en",
                body_params=[group.name, group.invite_link],
                contact=contact,
            )
    except WhatsAppError as exc:
        log.warning("invite link for invitation %s not sent: %s", invitation.pk, exc)
        GroupInvitation.objects.filter(pk=invitation.pk).update(invite_link_sent_at=None)


def _send_text(*, contact: Contact, body: str) -> None:
    try:
        get_client().send_text(to=_to(contact), body=body, contact=contact)
    except WhatsAppError as exc:
        log.warning("reply to %s not sent: %s", contact.pk, exc)


def confirm_answer(*, invitation: GroupInvitation) -> None:
    """Short reply to a button answer (the person just wrote: the window is open)."""
    group, contact = invitation.group, invitation.contact
    if invitation.status == InvitationStatus.DECLINED:
        _send_text(contact=contact, body=f"Thanks — you have not joined “{group.name}”.")
        return
    if invitation.status != InvitationStatus.ACCEPTED or group.is_whatsapp_group:
        return  # a WhatsApp group's member already got its invite link
    membership = GroupMembership.objects.filter(invitation=invitation).first()
    if membership is None or membership.left_at:
        return
    try:
        get_client().send_buttons(
            to=_to(contact),
            body=f"You are now a member of “{group.name}”. You can leave at any time.",
            buttons=[(f"group:{membership.pk}:leave", "Leave group")],
            contact=contact,
        )
    except WhatsAppError as exc:
        log.warning("confirmation of invitation %s not sent: %s", invitation.pk, exc)


def reply_refusal(*, invitation: GroupInvitation, reason: str) -> None:
    _send_text(
        contact=invitation.contact,
        body=f"Your answer to the invitation to “{invitation.group.name}” was not recorded: "
        f"{reason}.",
    )


def send_missing_invite_links() -> int:
    """Invite links owed to members of WhatsApp groups whose first send failed."""
    owed = GroupInvitation.objects.filter(
        status=InvitationStatus.ACCEPTED,
        invite_link_sent_at__isnull=True,
        membership__left_at__isnull=True,
        group__whatsapp_group_id__isnull=False,
        group__active=True,
    ).select_related("group", "contact")
    for invitation in owed:
        send_group_invite_link(invitation=invitation)
    return len(owed)
