"""WhatsApp webhook handlers of groups: invitation button replies, join requests, leaving,
groups the platform finished creating, and what became of the invitations we queued."""

import logging
import re
import uuid

from consent.services import Evidence
from whatsapp.events import (
    GroupLifecycleEvent,
    GroupParticipantsEvent,
    InboundMessage,
    OutboundResult,
)
from whatsapp.handlers import on

from . import outreach, selectors, services, whatsapp_groups
from .exceptions import GroupError
from .models import AnswerSource, Group, GroupInvitation, GroupMembership, LeaveSource

log = logging.getLogger(__name__)

INVITE_BUTTON = re.compile(r"^invite:(?P<id>[0-9a-fA-F-]{32,36}):(?P<answer>accept|decline)$")
LEAVE_BUTTON = re.compile(r"^group:(?P<id>[0-9a-fA-F-]{32,36}):leave$")


def _is_sender(contact, event) -> bool:
    # A button reply is trusted only from the person the invitation was sent to.
    return bool(
        (event.wa_id and event.wa_id in (contact.wa_id, str(contact.phone or "").lstrip("+")))
        or (event.user_id and event.user_id == contact.whatsapp_user_id)
    )


@on("message")
def answer_invitation_by_button(event: InboundMessage) -> None:
    match = INVITE_BUTTON.match(event.button_id or "")
    if match is None:
        return
    invitation = (
        GroupInvitation.objects.select_related("group", "contact")
        .filter(pk=uuid.UUID(match["id"]))
        .first()
    )
    if invitation is None or not _is_sender(invitation.contact, event):
        log.info("ignored invitation button %s from another sender", event.button_id)
        return
    try:
        services.respond_to_invitation(
            invitation=invitation,
            answer=match["answer"],
            source=AnswerSource.WHATSAPP_BUTTON,
            evidence=Evidence(
                wamid=event.wamid,
                prompted_by_wamid=event.context_wamid,
                note=f"button {event.button_id}",
            ),
            at=event.timestamp,
        )
    except GroupError as exc:
        outreach.reply_refusal(invitation=invitation, reason=exc.detail)
        return
    outreach.confirm_answer(invitation=invitation)


@on("message")
def leave_group_by_button(event: InboundMessage) -> None:
    match = LEAVE_BUTTON.match(event.button_id or "")
    if match is None:
        return
    membership = (
        GroupMembership.objects.select_related("contact").filter(pk=uuid.UUID(match["id"])).first()
    )
    if membership is None or not _is_sender(membership.contact, event):
        return
    services.leave_group(membership=membership, source=LeaveSource.WHATSAPP_BUTTON)


@on("group_participants")
def review_group_participants(event: GroupParticipantsEvent) -> None:
    """Join requests go to the approval flow; a revoked one closes; a removal or a leave ends
    the membership with who did it. An add never makes a member (only an acceptance does)."""
    group = Group.objects.filter(whatsapp_group_id=event.group_id).first()
    if group is None:
        return
    if "join_request_created" in event.type and event.request_id:
        decision = whatsapp_groups.decide_join_request(
            group=group,
            request_id=event.request_id,
            wa_id=event.wa_id or "",
            user_id=event.user_id or "",
        )
        log.info("join request %s: %s", event.request_id, decision.reason)
    elif "join_request_revoked" in event.type:
        closed = whatsapp_groups.close_join_request(group=group, request_id=event.request_id)
        log.info("join request %s revoked (queued decision closed: %s)", event.request_id, closed)
    elif "remove" in event.type or "leave" in event.type:
        _end_memberships(group, event)


def _end_memberships(group: Group, event: GroupParticipantsEvent) -> None:
    people = event.participants or ((event.wa_id, event.user_id),)
    for wa_id, user_id in people:
        contact = selectors.contact_for_whatsapp(wa_id=wa_id or "", user_id=user_id or "")
        membership = contact and selectors.current_membership(group, contact)
        if membership:
            # When the person left, as the platform stamped it, not when we got round to it.
            services.leave_group(
                membership=membership,
                source=LeaveSource.WHATSAPP_PLATFORM,
                at=event.timestamp,
                initiated_by=event.initiated_by,
            )


@on("group_lifecycle")
def complete_group_creation(event: GroupLifecycleEvent) -> None:
    if event.type != "group_create" or not event.request_id:
        return
    if not event.succeeded:
        log.warning("WhatsApp could not create group %s: %s", event.request_id, event.errors)
        return
    whatsapp_groups.record_whatsapp_group_created(
        request_id=event.request_id, group_id=event.group_id, invite_link=event.invite_link
    )


@on("outbound_result")
def record_invitation_sent(result: OutboundResult) -> None:
    outreach.record_outbound_result(result)
