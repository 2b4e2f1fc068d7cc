"""Reads of groups: invitations, members, funnels, and who may be invited."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from consent.selectors import Decision, Reason, may_send, may_send_contacts
from contacts.models import Contact
from conversation.outreach import address_of

from .models import Group, GroupInvitation, GroupMembership, InvitationStatus


def pending_invitations(contact: Contact, at: datetime | None = None) -> QuerySet[GroupInvitation]:
    """Invitations the contact can still answer (pending and not past expiry)."""
    at = at or timezone.now()
    return (
        GroupInvitation.objects.filter(
            contact=contact, status=InvitationStatus.PENDING, expires_at__gt=at
        )
        .select_related("group")
        .order_by("expires_at")
    )


def invitation_for_token(token: str) -> GroupInvitation | None:
    """The invitation behind an answer-page token, or None for an unknown token."""
    if not token:
        return None
    return GroupInvitation.objects.select_related("group", "contact").filter(token=token).first()


def current_members(group: Group) -> QuerySet[GroupMembership]:
    return group.memberships.filter(left_at__isnull=True).select_related("contact", "invitation")


def current_membership(group: Group, contact: Contact) -> GroupMembership | None:
    return current_members(group).filter(contact=contact).first()


def accepted_invitations(group: Group) -> QuerySet[GroupInvitation]:
    """Members as the API shows them: accepted invitations whose membership is current."""
    return (
        group.invitations.filter(status=InvitationStatus.ACCEPTED, membership__left_at__isnull=True)
        .select_related("contact", "membership")
        .order_by("-responded_at")
    )


def membership_of(invitation: GroupInvitation) -> GroupMembership | None:
    return GroupMembership.objects.filter(invitation=invitation).first()


def member_count(group: Group) -> int:
    return current_members(group).count()


def has_room(group: Group) -> bool:
    return group.capacity is None or member_count(group) < group.capacity


def funnel(group: Group) -> dict[str, int]:
    """sent / accepted / declined / expired / revoked / pending for one group."""
    counts = group.invitations.aggregate(
        sent=Count("pk", filter=Q(sent_at__isnull=False)),
        **{s.value: Count("pk", filter=Q(status=s.value)) for s in InvitationStatus},
    )
    return counts


def cooldown_until(group: Group, contact: Contact, at: datetime | None = None) -> datetime | None:
    """When the contact may be invited again after declining, or None if they may now."""
    at = at or timezone.now()
    days = settings.GROUP_REINVITE_COOLDOWN_DAYS
    last = (
        GroupInvitation.objects.filter(
            group=group, contact=contact, status=InvitationStatus.DECLINED
        )
        .order_by("-responded_at")
        .values_list("responded_at", flat=True)
        .first()
    )
    if last is None:
        return None
    until = last + timedelta(days=days)
    return until if until > at else None


def _consent_refusal(group: Group, decision: Decision) -> str:
    purpose = group.purpose
    until = f" until {decision.until:%Y-%m-%d}" if decision.until else ""
    return {
        Reason.OPTED_OUT: f"opted out of {purpose} messages",
        Reason.PAUSED: f"paused {purpose} messages{until}",
        Reason.NO_CONSENT: f"no consent: never agreed to {purpose} messages",
        Reason.PENDING_CONFIRMATION: f"has not yet confirmed the {purpose} opt-in",
        Reason.LEGACY_EXPIRED: f"legacy {purpose} consent expired without re-consent",
    }.get(decision.reason, f"may not be messaged for {purpose} ({decision.reason})")


@dataclass(frozen=True)
class Eligibility:
    contact: Contact
    allowed: bool
    code: str
    reason: str


def _reachable(contact: Contact) -> bool:
    # A username-only contact is reached by its business-scoped id.
    return address_of(contact) is not None


def invite_eligibility(
    *, group: Group, contact: Contact, decision: Decision | None = None, at=None
) -> Eligibility:
    """Whether `contact` may be invited to `group` now, and if not, why (no writes)."""
    at = at or timezone.now()
    if not group.active:
        return Eligibility(contact, False, "group_inactive", f"group '{group}' is not active")
    if contact.is_erased:
        return Eligibility(contact, False, "contact_erased", "the contact was erased")
    if not _reachable(contact):
        return Eligibility(contact, False, "unreachable", "the contact has no WhatsApp number")
    decision = decision or may_send(contact, group.purpose, at=at)
    if not decision.allowed:
        return Eligibility(contact, False, decision.reason, _consent_refusal(group, decision))
    if current_membership(group, contact):
        return Eligibility(contact, False, "already_member", "already a member of the group")
    if GroupInvitation.objects.filter(
        group=group, contact=contact, status=InvitationStatus.PENDING, expires_at__gt=at
    ).exists():
        return Eligibility(
            contact, False, "duplicate_pending", "an invitation to this group is already pending"
        )
    until = cooldown_until(group, contact, at=at)
    if until:
        return Eligibility(
            contact,
            False,
            "cooldown",
            f"declined recently; may be invited again from {until:%Y-%m-%d %H:%M}",
        )
    if not has_room(group):
        return Eligibility(contact, False, "group_full", f"the group is full ({group.capacity})")
    return Eligibility(contact, True, "ok", "")


def invite_preview(
    *, group: Group, contacts: list[Contact], at=None
) -> tuple[list[Eligibility], list[Eligibility]]:
    """(to invite, skipped with reasons) for a bulk invitation."""
    at = at or timezone.now()
    decisions = may_send_contacts([c.pk for c in contacts], group.purpose, at=at)
    invite: list[Eligibility] = []
    skip: list[Eligibility] = []
    for contact in contacts:
        result = invite_eligibility(
            group=group, contact=contact, decision=decisions[contact.pk], at=at
        )
        (invite if result.allowed else skip).append(result)
    return invite, skip


def invitation_for_join_request(
    *, group: Group, wa_id: str = "", user_id: str = ""
) -> GroupInvitation | None:
    """The accepted invitation (with a current membership) of whoever asks to join."""
    who = Q()
    if wa_id:
        who |= Q(contact__wa_id=wa_id) | Q(contact__phone=f"+{wa_id.lstrip('+')}")
    if user_id:
        who |= Q(contact__whatsapp_user_id=user_id)
    if not who:
        return None
    return (
        group.invitations.filter(who, status=InvitationStatus.ACCEPTED)
        .filter(membership__left_at__isnull=True)
        .select_related("contact")
        .first()
    )


def contact_for_whatsapp(*, wa_id: str = "", user_id: str = "") -> Contact | None:
    who = Q()
    if wa_id:
        who |= Q(wa_id=wa_id) | Q(phone=f"+{wa_id.lstrip('+')}")
    if user_id:
        who |= Q(whatsapp_user_id=user_id)
    return Contact.objects.filter(who).first() if who else None
