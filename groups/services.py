"""Writes of groups. Nobody is added to a group: they are invited, and only
`respond_to_invitation(answer="accept")` creates a membership."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, User
from django.db import IntegrityError, transaction
from django.utils import timezone

from consent.services import Evidence
from contacts.models import Contact
from staff.audit import record_audit
from whatsapp import outbox

from . import outreach, selectors
from .exceptions import (
    DuplicateInvitation,
    GroupError,
    GroupFull,
    InvitationClosed,
    InvitationRefused,
)
from .models import (
    AnswerSource,
    Group,
    GroupInvitation,
    GroupMembership,
    InvitationStatus,
    InviteSource,
    LeaveSource,
)

log = logging.getLogger(__name__)

ACCEPT, DECLINE = "accept", "decline"


def _ttl() -> timedelta:
    return timedelta(days=settings.GROUP_INVITATION_TTL_DAYS)


# --- Groups ---------------------------------------------------------------------


@transaction.atomic
def create_group(*, actor: Any, **fields: Any) -> Group:
    """A new group (not on WhatsApp until staff create it there); `actor` is audited."""
    group = Group.objects.create(**fields)
    if actor is not None:
        record_audit(actor=actor, action="create_group", obj=group, after={"name": group.name})
    return group


# --- Inviting -------------------------------------------------------------------


def invite_contact(
    *,
    group: Group,
    contact: Contact,
    invited_by: User | None = None,
    source: str = InviteSource.ADMIN,
    actor: Any = None,
) -> GroupInvitation:
    """Invite `contact` to `group` and send the WhatsApp invitation (Accept / Decline).

    The staff user (`invited_by`) or API key (`actor`) is audited.

    Raises InvitationRefused (with `.code`) when the contact may not be invited now:
    no consent for the group's purpose (opted out, paused, …), already a member, an
    invitation already pending (DuplicateInvitation), declined within the cooldown,
    full or inactive group.
    """
    if source not in InviteSource.values:
        raise InvitationRefused(f"'{source}' is not an invitation source", code="invalid_choice")
    with transaction.atomic():
        # The group row lock serialises invitations and acceptances of one group.
        group = Group.objects.select_for_update().get(pk=group.pk)
        now = timezone.now()
        # A lapsed invitation the expiry task has not reached yet must not block a new one.
        GroupInvitation.objects.filter(
            group=group, contact=contact, status=InvitationStatus.PENDING, expires_at__lte=now
        ).update(status=InvitationStatus.EXPIRED)
        eligibility = selectors.invite_eligibility(group=group, contact=contact, at=now)
        if not eligibility.allowed:
            error = DuplicateInvitation if eligibility.code == "duplicate_pending" else None
            raise (error or InvitationRefused)(
                f"{contact} cannot be invited to {group}: {eligibility.reason}",
                code=eligibility.code,
                reason=eligibility.reason,
            )
        try:
            with transaction.atomic():
                invitation = GroupInvitation.objects.create(
                    group=group,
                    contact=contact,
                    invited_by=invited_by,
                    invite_source=source,
                    expires_at=now + _ttl(),
                )
        except IntegrityError:
            raise DuplicateInvitation(
                f"{contact} already has a pending invitation to {group}"
            ) from None
        # Queued with the invitation: it goes out after commit, or never.
        outreach.send_invitation_message(invitation=invitation)
        auditor = actor if actor is not None else invited_by
        if auditor is not None:
            record_audit(
                actor=auditor,
                action="invite_contact",
                obj=invitation,
                after={"group": str(group.pk), "source": source},
            )
    return invitation


def resend_invitation(*, invitation: GroupInvitation, actor: Any) -> GroupInvitation:
    """Queue the invitation message again (a pending invitation only); audited."""
    with transaction.atomic():
        locked = GroupInvitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.status != InvitationStatus.PENDING:
            return invitation
        outreach.send_invitation_message(invitation=invitation)
        record_audit(actor=actor, action="resend_invitation", obj=invitation)
    return invitation


@dataclass(frozen=True)
class BulkInviteResult:
    invited: list[GroupInvitation]
    skipped: list[tuple[Contact, str]]


def invite_contacts(
    *,
    group: Group,
    contacts: list[Contact],
    invited_by: User | None = None,
    source: str = InviteSource.ADMIN,
    actor: Any = None,
) -> BulkInviteResult:
    """Invite each contact that may be invited; the others are skipped with the reason."""
    invited, skipped = [], []
    for contact in contacts:
        try:
            invited.append(
                invite_contact(
                    group=group, contact=contact, invited_by=invited_by, source=source, actor=actor
                )
            )
        except InvitationRefused as exc:
            skipped.append((contact, exc.reason))
    return BulkInviteResult(invited, skipped)


# --- Answers ----------------------------------------------------------------------


def _refusal(invitation: GroupInvitation, answer: str) -> InvitationClosed | None:
    """Why `answer` cannot be applied to this (locked, current) invitation, if it can't."""
    status = invitation.status
    if status == InvitationStatus.EXPIRED:
        return InvitationClosed(
            f"the invitation expired on {invitation.expires_at:%Y-%m-%d %H:%M}", code="expired"
        )
    if status == InvitationStatus.REVOKED:
        return InvitationClosed("the invitation was withdrawn by the business", code="revoked")
    if status == InvitationStatus.ACCEPTED and answer == DECLINE:
        return InvitationClosed(
            "the invitation was already accepted; leave the group instead", code="accepted"
        )
    if status == InvitationStatus.DECLINED and answer == ACCEPT:
        return InvitationClosed("the invitation was already declined", code="declined")
    return None


def _check_answer(answer: str, source: str) -> None:
    if answer not in (ACCEPT, DECLINE):
        raise InvitationClosed(
            f"'{answer}' is not an answer; use accept or decline", code="invalid"
        )
    if source not in AnswerSource.values:
        raise InvitationClosed(
            f"'{source}' is not an answer source; expected one of {', '.join(AnswerSource.values)}",
            code="invalid_choice",
        )


def respond_to_invitation(
    *,
    invitation: GroupInvitation,
    answer: str,
    source: str,
    evidence: Evidence | None = None,
    at: datetime | None = None,
    actor: Any = None,
) -> GroupInvitation:
    """Record the invited person's answer; `accept` creates the membership.

    `actor`: the API key (or staff user) passing on the person's answer, audited.

    The one way a GroupMembership comes to exist. Answering the same way twice (a
    repeated button tap, a redelivered webhook, two tabs) changes nothing. Accepting an
    expired or revoked invitation raises InvitationClosed with the reason; accepting
    when the group is full raises GroupFull and leaves the invitation pending.
    """
    _check_answer(answer, source)
    evidence = evidence or Evidence()
    refusal: GroupError | None = None
    with transaction.atomic():
        # Lock order group → invitation, as in invite_contact: no deadlock, and two
        # concurrent accepts of one invitation run one after the other.
        group = Group.objects.select_for_update().get(pk=invitation.group_id)
        locked = GroupInvitation.objects.select_for_update().get(pk=invitation.pk)
        now = at or timezone.now()
        if locked.status == InvitationStatus.PENDING and locked.is_past_expiry(now):
            locked.status = InvitationStatus.EXPIRED
            locked.save(update_fields=["status"])
        refusal = _refusal(locked, answer)
        if refusal is None and locked.status == InvitationStatus.PENDING:
            if answer == ACCEPT and not group.active:
                refusal = InvitationClosed(
                    f"the group “{group.name}” is closed", code="group_inactive"
                )
            elif answer == ACCEPT and not selectors.has_room(group):
                refusal = GroupFull(f"the group is full ({group.capacity} members)")
            else:
                _record_answer(locked, answer=answer, source=source, evidence=evidence, at=now)
                if actor is not None:
                    record_audit(
                        actor=actor,
                        action="record_invitation_answer",
                        obj=locked,
                        before={"status": InvitationStatus.PENDING.value},
                        after={"status": locked.status, "source": source},
                    )
                if answer == ACCEPT:
                    GroupMembership.objects.create(
                        invitation=locked, group=group, contact=locked.contact, joined_at=now
                    )
                    if group.is_whatsapp_group:
                        locked.group = group
                        outreach.send_group_invite_link(invitation=locked)
    _copy_state(locked, into=invitation)
    if refusal is not None:
        raise refusal
    return invitation


def _record_answer(
    invitation: GroupInvitation, *, answer: str, source: str, evidence: Evidence, at: datetime
) -> None:
    invitation.status = InvitationStatus.ACCEPTED if answer == ACCEPT else InvitationStatus.DECLINED
    invitation.responded_at = at
    invitation.answer_source = source
    invitation.answer_ip = evidence.ip
    invitation.answer_user_agent = evidence.user_agent
    invitation.answer_page_url = evidence.page_url
    invitation.answer_wamid = evidence.wamid
    invitation.answer_note = evidence.note
    invitation.answer_context = {
        **evidence.context,
        **({"prompted_by_wamid": evidence.prompted_by_wamid} if evidence.prompted_by_wamid else {}),
    }
    invitation.save()


def _copy_state(source: GroupInvitation, *, into: GroupInvitation) -> None:
    if source is into:
        return
    for field in source._meta.concrete_fields:
        setattr(into, field.attname, getattr(source, field.attname))
    into._state.fields_cache.pop("membership", None)


# --- Revoking, expiring, leaving --------------------------------------------------


def revoke_invitation(*, invitation: GroupInvitation, actor: Any = None) -> GroupInvitation:
    """Withdraw a pending invitation. Revoking twice is a no-op; an answered one is refused.

    `actor` (staff user or API key) is audited.
    """
    with transaction.atomic():
        locked = GroupInvitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.status == InvitationStatus.PENDING:
            locked.status = InvitationStatus.REVOKED
            locked.revoked_at = timezone.now()
            # AUTH_USER_MODEL is auth.User, the project's only concrete AbstractBaseUser.
            revoked_by = actor if isinstance(actor, AbstractBaseUser) else None
            locked.revoked_by = cast("User | None", revoked_by)
            locked.save(update_fields=["status", "revoked_at", "revoked_by"])
            if actor is not None:
                record_audit(
                    actor=actor,
                    action="revoke_invitation",
                    obj=locked,
                    before={"status": InvitationStatus.PENDING.value},
                    after={"status": InvitationStatus.REVOKED.value},
                )
        elif locked.status != InvitationStatus.REVOKED:
            raise InvitationClosed(
                f"the invitation is already {locked.status}; only a pending one can be revoked",
                code=locked.status,
            )
    _copy_state(locked, into=invitation)
    return invitation


def expire_invitations(*, at: datetime | None = None) -> int:
    """Mark pending invitations past their expiry as expired; returns how many changed."""
    at = at or timezone.now()
    return GroupInvitation.objects.filter(
        status=InvitationStatus.PENDING, expires_at__lte=at
    ).update(status=InvitationStatus.EXPIRED)


def leave_group(
    *,
    membership: GroupMembership,
    source: str,
    at: datetime | None = None,
    actor: Any = None,
    initiated_by: str = "",
) -> GroupMembership:
    """End a membership with a timestamp (leaving twice keeps the first time).

    `actor` (staff user or API key ending it) is audited; `initiated_by` is who the
    WhatsApp group says ended it.
    """
    if source not in LeaveSource.values:
        raise InvitationClosed(f"'{source}' is not a leave source", code="invalid_choice")
    with transaction.atomic():
        locked = GroupMembership.objects.select_for_update().get(pk=membership.pk)
        if locked.left_at is None:
            locked.left_at = at or timezone.now()
            locked.left_source = source
            locked.left_initiated_by = initiated_by[:32]
            locked.save(update_fields=["left_at", "left_source", "left_initiated_by"])
            if actor is not None:
                record_audit(
                    actor=actor,
                    action="end_membership",
                    obj=locked,
                    before={"left_at": None},
                    after={"left_at": locked.left_at.isoformat(), "source": source},
                )
            if locked.group.is_whatsapp_group and source != LeaveSource.WHATSAPP_PLATFORM:
                contact = locked.contact
                outbox.enqueue_participant_removal(
                    # is_whatsapp_group: the group has its id.
                    group_id=cast(str, locked.group.whatsapp_group_id),
                    users=[contact.wa_id] if contact.wa_id else [],
                    user_ids=[contact.whatsapp_user_id] if contact.whatsapp_user_id else [],
                    reason=f"left {locked.group.name}"[:200],
                )
    membership.left_at, membership.left_source = locked.left_at, locked.left_source
    membership.left_initiated_by = locked.left_initiated_by
    return membership
