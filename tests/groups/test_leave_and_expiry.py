from datetime import timedelta

import pytest
from django.utils import timezone

from groups.models import GroupInvitation, GroupMembership, InvitationStatus
from groups.selectors import pending_invitations
from groups.services import invite_contact, leave_group, respond_to_invitation
from groups.tasks import expire_invitations

pytestmark = pytest.mark.django_db


def _member(group, contact) -> GroupMembership:
    invitation = invite_contact(group=group, contact=contact)
    respond_to_invitation(invitation=invitation, answer="accept", source="api")
    return invitation.membership


def test_leaving_ends_the_membership_with_a_timestamp(group, opted_in):
    membership = _member(group, opted_in)

    leave_group(membership=membership, source="answer_page")

    membership.refresh_from_db()
    assert membership.left_at is not None
    assert membership.left_source == "answer_page"


def test_leaving_twice_keeps_the_first_time(group, opted_in):
    membership = _member(group, opted_in)
    leave_group(membership=membership, source="api")
    first = GroupMembership.objects.get().left_at

    leave_group(membership=membership, source="whatsapp_button")

    assert GroupMembership.objects.get().left_at == first


def test_someone_who_left_can_be_invited_again_and_rejoin(group, opted_in):
    leave_group(membership=_member(group, opted_in), source="api")

    again = invite_contact(group=group, contact=opted_in)
    respond_to_invitation(invitation=again, answer="accept", source="api")

    assert GroupMembership.objects.filter(contact=opted_in).count() == 2
    assert GroupMembership.objects.filter(contact=opted_in, left_at__isnull=True).count() == 1


def test_expire_invitations_marks_only_pending_ones_past_expiry(group, make_opted_in):
    now = timezone.now()
    lapsed = invite_contact(group=group, contact=make_opted_in())
    on_the_edge = invite_contact(group=group, contact=make_opted_in())
    still_open = invite_contact(group=group, contact=make_opted_in())
    GroupInvitation.objects.filter(pk=lapsed.pk).update(expires_at=now - timedelta(days=1))
    GroupInvitation.objects.filter(pk=on_the_edge.pk).update(expires_at=now)
    GroupInvitation.objects.filter(pk=still_open.pk).update(expires_at=now + timedelta(hours=1))

    changed = expire_invitations()

    statuses = dict(GroupInvitation.objects.values_list("pk", "status"))
    assert changed == 2
    assert statuses[lapsed.pk] == statuses[on_the_edge.pk] == InvitationStatus.EXPIRED
    assert statuses[still_open.pk] == InvitationStatus.PENDING


def test_expire_invitations_is_idempotent(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)
    GroupInvitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert expire_invitations() == 1
    assert expire_invitations() == 0


def test_expire_invitations_leaves_answered_ones_alone(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)
    respond_to_invitation(invitation=invitation, answer="accept", source="api")
    GroupInvitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(days=1)
    )

    expire_invitations()

    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.ACCEPTED


def test_pending_invitations_hides_ones_past_expiry_before_the_task_runs(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)
    assert list(pending_invitations(opted_in)) == [invitation]

    GroupInvitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())

    assert list(pending_invitations(opted_in)) == []
