"""Invitations and memberships follow the person: an opt-out or an erasure ends them."""

import pytest

from contacts.services import erase_person
from groups.models import Group, GroupMembership, InvitationStatus
from groups.services import invite_contact, respond_to_invitation
from tests.consent_helpers import record

pytestmark = pytest.mark.django_db


def test_opting_out_of_the_groups_purpose_revokes_a_pending_invitation(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)

    record(opted_in, "withdraw", "marketing")

    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.REVOKED


def test_opting_out_of_another_purpose_leaves_the_invitation_pending(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)

    record(opted_in, "withdraw", "service")

    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PENDING


def test_an_opt_out_does_not_end_a_membership_the_person_accepted(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)
    respond_to_invitation(invitation=invitation, answer="accept", source="answer_page")

    record(opted_in, "withdraw", "marketing")

    assert GroupMembership.objects.get().left_at is None


def test_erasure_ends_memberships_and_revokes_pending_invitations(group, opted_in):
    other = Group.objects.create(name="Tasting club", purpose="marketing")
    accepted = invite_contact(group=group, contact=opted_in)
    respond_to_invitation(invitation=accepted, answer="accept", source="answer_page")
    pending = invite_contact(group=other, contact=opted_in)

    erase_person(contact=opted_in)

    membership = GroupMembership.objects.get()
    assert (membership.left_source, membership.left_at is not None) == ("erasure", True)
    pending.refresh_from_db()
    assert pending.status == InvitationStatus.REVOKED
