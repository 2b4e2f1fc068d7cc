from datetime import timedelta

import pytest
from django.utils import timezone

from consent.services import Evidence
from groups.exceptions import GroupFull, InvitationClosed
from groups.models import GroupMembership, InvitationStatus
from groups.services import invite_contact, respond_to_invitation, revoke_invitation

pytestmark = pytest.mark.django_db


def test_accepting_creates_one_membership_standing_on_the_invitation(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)

    respond_to_invitation(invitation=invitation, answer="accept", source="answer_page")

    membership = GroupMembership.objects.get()
    assert membership.invitation == invitation
    assert (membership.group, membership.contact) == (group, opted_in)
    assert membership.left_at is None
    assert invitation.status == InvitationStatus.ACCEPTED


def test_the_answer_is_recorded_with_its_evidence(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)

    respond_to_invitation(
        invitation=invitation,
        answer="accept",
        source="answer_page",
        evidence=Evidence(
            ip="203.0.113.7",
            user_agent="Mobile Safari",
            page_url=invitation.accept_url,
            note="tapped Accept",
        ),
    )

    invitation.refresh_from_db()
    assert invitation.responded_at is not None
    assert invitation.answer_source == "answer_page"
    assert invitation.answer_ip == "203.0.113.7"
    assert invitation.answer_user_agent == "Mobile Safari"
    assert invitation.answer_page_url == invitation.accept_url
    assert invitation.answer_note == "tapped Accept"


def test_declining_creates_no_membership(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)

    respond_to_invitation(invitation=invitation, answer="decline", source="api")

    assert invitation.status == InvitationStatus.DECLINED
    assert not GroupMembership.objects.exists()


def test_accepting_twice_is_one_membership(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)

    respond_to_invitation(invitation=invitation, answer="accept", source="whatsapp_button")
    respond_to_invitation(invitation=invitation, answer="accept", source="answer_page")

    assert GroupMembership.objects.count() == 1
    invitation.refresh_from_db()
    assert invitation.answer_source == "whatsapp_button"


def test_accepting_one_second_before_expiry_is_accepted(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)

    respond_to_invitation(
        invitation=invitation,
        answer="accept",
        source="api",
        at=invitation.expires_at - timedelta(seconds=1),
    )

    assert invitation.status == InvitationStatus.ACCEPTED


def test_accepting_at_the_expiry_instant_is_refused_with_the_reason(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)

    with pytest.raises(InvitationClosed) as closed:
        respond_to_invitation(
            invitation=invitation, answer="accept", source="api", at=invitation.expires_at
        )

    assert closed.value.code == "expired"
    assert "expired" in closed.value.detail
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.EXPIRED
    assert not GroupMembership.objects.exists()


def test_accepting_a_revoked_invitation_is_refused_with_the_reason(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)
    revoke_invitation(invitation=invitation)

    with pytest.raises(InvitationClosed) as closed:
        respond_to_invitation(invitation=invitation, answer="accept", source="api")

    assert closed.value.code == "revoked"
    assert not GroupMembership.objects.exists()


def test_a_declined_invitation_cannot_be_accepted_later(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)
    respond_to_invitation(invitation=invitation, answer="decline", source="api")

    with pytest.raises(InvitationClosed) as closed:
        respond_to_invitation(invitation=invitation, answer="accept", source="api")

    assert closed.value.code == "declined"


def test_accepting_into_a_full_group_is_refused_and_the_invitation_stays_open(group, make_opted_in):
    group.capacity = 1
    group.save()
    first = invite_contact(group=group, contact=make_opted_in())
    second = invite_contact(group=group, contact=make_opted_in())
    respond_to_invitation(invitation=first, answer="accept", source="api")

    with pytest.raises(GroupFull):
        respond_to_invitation(invitation=second, answer="accept", source="api")

    second.refresh_from_db()
    assert second.status == InvitationStatus.PENDING
    assert GroupMembership.objects.count() == 1


def test_an_unknown_answer_source_is_refused(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)

    with pytest.raises(InvitationClosed) as closed:
        respond_to_invitation(invitation=invitation, answer="accept", source="guess")

    assert closed.value.code == "invalid_choice"


def test_revoking_an_accepted_invitation_is_refused(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)
    respond_to_invitation(invitation=invitation, answer="accept", source="api")

    with pytest.raises(InvitationClosed):
        revoke_invitation(invitation=invitation)


def test_revoking_twice_is_harmless(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)

    revoke_invitation(invitation=invitation)
    revoke_invitation(invitation=invitation)

    assert invitation.status == InvitationStatus.REVOKED
    assert invitation.revoked_at <= timezone.now()


def test_accepting_into_a_closed_group_is_refused(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)
    group.active = False
    group.save()

    with pytest.raises(InvitationClosed) as closed:
        respond_to_invitation(invitation=invitation, answer="accept", source="api")

    assert closed.value.code == "group_inactive"
    assert not GroupMembership.objects.exists()
