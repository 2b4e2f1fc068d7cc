from datetime import timedelta

import pytest
from django.utils import timezone

from groups.models import GroupInvitation, GroupMembership
from groups.services import invite_contact, respond_to_invitation
from tests.api.conftest import assert_error, client_with_key
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(db):
    return client_with_key("groups:read", "groups:write")


def test_list_and_retrieve_groups(api, group):
    listed = api.get("/api/v1/groups/")
    one = api.get(f"/api/v1/groups/{group.pk}/")

    assert listed.status_code == 200
    assert [g["name"] for g in listed.json()["results"]] == ["VIP early access"]
    assert one.json()["id"] == str(group.pk)
    assert one.json()["members"] == 0


def test_create_group(api):
    response = api.post(
        "/api/v1/groups/", {"name": "Beta testers", "purpose": "service", "capacity": 8}
    )

    assert response.status_code == 201, response.content
    assert response.json()["capacity"] == 8


def test_invite_answers_201_with_the_invitation_and_no_membership(api, group, opted_in):
    response = api.post(f"/api/v1/groups/{group.pk}/invitations/", {"phone": str(opted_in.phone)})

    assert response.status_code == 201, response.content
    body = response.json()
    invitation = GroupInvitation.objects.get()
    assert body["id"] == str(invitation.pk)
    assert body["group"] == str(group.pk)
    assert body["phone"] == str(opted_in.phone)
    assert body["status"] == "pending"
    assert body["expires_at"]
    # the answer page acts as the person: only for keys with contacts:links
    assert body["accept_url"] is None
    assert not GroupMembership.objects.exists()
    assert api.get(f"/api/v1/groups/{group.pk}/members/").json()["results"] == []


def test_the_accept_url_is_only_for_keys_that_may_act_as_the_person(group, opted_in):
    inviter = client_with_key("groups:read", "groups:write", "contacts:links")

    response = inviter.post(
        f"/api/v1/groups/{group.pk}/invitations/", {"phone": str(opted_in.phone)}
    )

    invitation = GroupInvitation.objects.get()
    assert response.json()["accept_url"] == invitation.accept_url
    assert (
        client_with_key("groups:read")
        .get(f"/api/v1/invitations/{invitation.pk}/")
        .json()["accept_url"]
        is None
    )


def test_invite_accepts_a_phone_in_any_format(api, group, make_opted_in):
    make_opted_in(phone="+447911123456")

    response = api.post(f"/api/v1/groups/{group.pk}/invitations/", {"phone": "07911 123456"})

    assert response.status_code == 201, response.content
    assert response.json()["phone"] == "+447911123456"


def test_second_pending_invitation_is_409(api, group, opted_in):
    url = f"/api/v1/groups/{group.pk}/invitations/"
    api.post(url, {"phone": str(opted_in.phone)})

    response = api.post(url, {"phone": str(opted_in.phone)})

    assert_error(response, 409, "duplicate_pending")


def test_inviting_an_opted_out_contact_is_409_with_the_reason(api, group, opted_out):
    response = api.post(f"/api/v1/groups/{group.pk}/invitations/", {"phone": str(opted_out.phone)})

    body = assert_error(response, 409, "opted_out")
    assert "opted out" in body["errors"][0]["detail"]


def test_inviting_an_unknown_or_invalid_phone_is_400_naming_the_field(api, group):
    url = f"/api/v1/groups/{group.pk}/invitations/"

    assert_error(api.post(url, {"phone": "+447400123456"}), 400, "unknown_contact", "phone")
    assert_error(api.post(url, {"phone": "not a phone"}), 400, "invalid_phone", "phone")


def test_members_are_accepted_invitations_only(api, group, make_opted_in):
    accepted = invite_contact(group=group, contact=make_opted_in())
    respond_to_invitation(invitation=accepted, answer="accept", source="api")
    declined = invite_contact(group=group, contact=make_opted_in())
    respond_to_invitation(invitation=declined, answer="decline", source="api")
    invite_contact(group=group, contact=make_opted_in())  # pending

    response = api.get(f"/api/v1/groups/{group.pk}/members/")

    assert [m["id"] for m in response.json()["results"]] == [str(accepted.pk)]
    assert response.json()["results"][0]["status"] == "accepted"


def test_there_is_no_endpoint_that_adds_a_member(api, group, opted_in):
    url = f"/api/v1/groups/{group.pk}/members/"

    response = api.post(url, {"phone": str(opted_in.phone)})

    assert response.status_code == 405
    assert not GroupMembership.objects.exists()


def test_revoke(api, group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)

    response = api.post(f"/api/v1/invitations/{invitation.pk}/revoke/")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "revoked"


def test_respond_accept_records_the_evidence_and_makes_a_member(api, group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)

    response = api.post(
        f"/api/v1/invitations/{invitation.pk}/respond/",
        {
            "answer": "accept",
            "source": "api",
            "evidence": {"ip": "198.51.100.4", "note": "said yes at the till"},
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "accepted"
    invitation.refresh_from_db()
    assert (invitation.answer_ip, invitation.answer_note) == (
        "198.51.100.4",
        "said yes at the till",
    )
    assert GroupMembership.objects.get().invitation == invitation


def test_respond_accept_on_expired_invitation_is_409(api, group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)
    GroupInvitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )

    response = api.post(
        f"/api/v1/invitations/{invitation.pk}/respond/", {"answer": "accept"}, format="json"
    )

    assert_error(response, 409, "expired")
    assert not GroupMembership.objects.exists()


def test_respond_accept_on_revoked_invitation_is_409(api, group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)
    api.post(f"/api/v1/invitations/{invitation.pk}/revoke/")

    response = api.post(
        f"/api/v1/invitations/{invitation.pk}/respond/", {"answer": "accept"}, format="json"
    )

    assert_error(response, 409, "revoked")


def test_respond_with_a_bad_answer_is_400(api, group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)

    response = api.post(
        f"/api/v1/invitations/{invitation.pk}/respond/", {"answer": "maybe"}, format="json"
    )

    assert_error(response, 400, "invalid_choice", "answer")


def test_leave_ends_the_membership(api, group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)
    respond_to_invitation(invitation=invitation, answer="accept", source="api")

    response = api.post(f"/api/v1/invitations/{invitation.pk}/leave/")

    assert response.status_code == 200, response.content
    assert GroupMembership.objects.get().left_at is not None
    assert api.get(f"/api/v1/groups/{group.pk}/members/").json()["results"] == []


def test_a_retried_invitation_with_the_same_idempotency_key_is_not_sent_twice(api, group, opted_in):
    url = f"/api/v1/groups/{group.pk}/invitations/"
    first = api.post(url, {"phone": str(opted_in.phone)}, HTTP_IDEMPOTENCY_KEY="abc")
    again = api.post(url, {"phone": str(opted_in.phone)}, HTTP_IDEMPOTENCY_KEY="abc")

    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert GroupInvitation.objects.count() == 1


def test_reading_needs_groups_read_and_writing_groups_write(group, opted_in):
    reader = client_with_key("groups:read")
    outsider = client_with_key("consent:read")

    assert reader.get("/api/v1/groups/").status_code == 200
    assert outsider.get("/api/v1/groups/").status_code == 403
    response = reader.post(
        f"/api/v1/groups/{group.pk}/invitations/", {"phone": str(opted_in.phone)}
    )
    assert response.status_code == 403


def test_unknown_ids_are_404(api):
    missing = "00000000-0000-0000-0000-000000000000"

    assert api.get(f"/api/v1/groups/{missing}/").status_code == 404
    assert api.post(f"/api/v1/invitations/{missing}/revoke/").status_code == 404
    assert api.post(f"/api/v1/invitations/{ContactFactory().pk}/respond/").status_code == 404
