from datetime import timedelta

import pytest
from django.utils import timezone

from groups.models import Group, GroupInvitation, GroupMembership, InvitationStatus
from groups.services import revoke_invitation

pytestmark = pytest.mark.django_db


@pytest.fixture
def invitation(contact):
    group = Group.objects.create(name="Early birds", description="First look at new products.")
    return GroupInvitation.objects.create(
        group=group, contact=contact, expires_at=timezone.now() + timedelta(days=7)
    )


def url(invitation) -> str:
    return f"/invitations/{invitation.token}/"


def test_a_pending_invitation_shows_the_group_and_both_answers(client, invitation):
    response = client.get(url(invitation))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Invitation to Early birds" in html
    assert "First look at new products." in html
    assert 'value="accept"' in html and 'value="decline"' in html


def test_accepting_creates_the_membership_with_evidence(client, invitation):
    response = client.post(url(invitation), {"answer": "accept"}, HTTP_USER_AGENT="Phone")
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.ACCEPTED
    assert invitation.answer_source == "answer_page"
    assert invitation.answer_ip == "127.0.0.1" and invitation.answer_user_agent == "Phone"
    assert GroupMembership.objects.filter(invitation=invitation).exists()
    html = client.get(url(invitation)).content.decode()
    assert "you are a member of Early birds" in html


def test_declining_creates_no_membership(client, invitation):
    client.post(url(invitation), {"answer": "decline"})
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.DECLINED
    assert not GroupMembership.objects.exists()
    assert "you have not joined Early birds" in client.get(url(invitation)).content.decode()


def test_a_member_can_leave_from_the_page(client, invitation):
    client.post(url(invitation), {"answer": "accept"})
    client.post(url(invitation), {"answer": "leave"})
    membership = GroupMembership.objects.get(invitation=invitation)
    assert membership.left_at is not None
    assert "You have left Early birds" in client.get(url(invitation)).content.decode()


def test_an_expired_invitation_says_so_and_cannot_be_accepted(client, invitation):
    GroupInvitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert "This invitation has expired" in client.get(url(invitation)).content.decode()
    client.post(url(invitation), {"answer": "accept"})
    assert not GroupMembership.objects.exists()


def test_a_revoked_invitation_says_so_and_cannot_be_accepted(client, invitation):
    revoke_invitation(invitation=invitation)
    assert "This invitation was withdrawn" in client.get(url(invitation)).content.decode()
    client.post(url(invitation), {"answer": "accept"})
    assert not GroupMembership.objects.exists()


def test_a_full_group_says_so(client, invitation, contact):
    Group.objects.filter(pk=invitation.group_id).update(capacity=0)
    response = client.post(url(invitation), {"answer": "accept"})
    assert response.status_code == 400
    assert "The group is full right now" in response.content.decode()
    assert not GroupMembership.objects.exists()


def test_an_unknown_token_is_a_friendly_404(client, invitation):
    response = client.get("/invitations/not-a-real-token/")
    assert response.status_code == 404
    assert "We could not find this invitation" in response.content.decode()
    assert "Early birds" not in response.content.decode()


def test_the_page_is_in_the_invited_contacts_language(client, invitation, contact):
    contact.language = "es"
    contact.save()
    assert "Invitación a Early birds" in client.get(url(invitation)).content.decode()


# --- On the preference centre -------------------------------------------------------


def test_the_preference_centre_lists_pending_invitations(client, page, invitation):
    html = client.get(page).content.decode()
    assert "Group invitations" in html and "Early birds" in html


def test_an_invitation_can_be_accepted_from_the_preference_centre(client, page, invitation):
    response = client.post(
        f"{page}invitations/", {"invitation": str(invitation.pk), "answer": "accept"}
    )
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert (invitation.status, invitation.answer_source) == ("accepted", "preference_centre")
    assert "You joined Early birds." in client.get(page).content.decode()


def test_someone_elses_invitation_cannot_be_answered(client, invitation):
    from preferences.links import preference_path
    from tests.factories import ContactFactory

    stranger_page = preference_path(ContactFactory())
    client.post(
        f"{stranger_page}invitations/", {"invitation": str(invitation.pk), "answer": "accept"}
    )
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PENDING


def test_a_full_group_is_explained_on_the_preference_centre(client, page, invitation):
    Group.objects.filter(pk=invitation.group_id).update(capacity=0)
    response = client.post(
        f"{page}invitations/", {"invitation": str(invitation.pk), "answer": "accept"}, follow=True
    )
    assert "The group is full right now" in response.content.decode()
    assert not GroupMembership.objects.exists()
