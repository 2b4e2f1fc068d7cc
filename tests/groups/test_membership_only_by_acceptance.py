"""Every path to a membership goes through acceptance: the service, the model, the database,
the admin and the API all refuse anything else."""

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from groups.models import GroupMembership, MembershipRequiresAcceptance
from groups.services import invite_contact, respond_to_invitation

pytestmark = pytest.mark.django_db


def _insert_row(invitation) -> None:
    """A membership written with raw SQL, as a careless script would."""
    table = GroupMembership._meta.db_table
    to_db = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, invitation_id, group_id, contact_id, joined_at, "
            "left_source) VALUES (%s, %s, %s, %s, %s, '')",
            [
                uuid.uuid4().hex if connection.vendor == "sqlite" else str(uuid.uuid4()),
                invitation.pk.hex if connection.vendor == "sqlite" else str(invitation.pk),
                invitation.group_id.hex
                if connection.vendor == "sqlite"
                else str(invitation.group_id),
                invitation.contact_id.hex
                if connection.vendor == "sqlite"
                else str(invitation.contact_id),
                to_db(timezone.now()),
            ],
        )


def test_the_model_refuses_a_membership_for_a_pending_invitation(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)

    with pytest.raises(MembershipRequiresAcceptance):
        GroupMembership.objects.create(invitation=invitation, group=group, contact=opted_in)
    assert not GroupMembership.objects.exists()


def test_bulk_and_get_or_create_paths_are_closed(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)
    row = GroupMembership(invitation=invitation, group=group, contact=opted_in)

    with pytest.raises(MembershipRequiresAcceptance):
        GroupMembership.objects.bulk_create([row])
    with pytest.raises(MembershipRequiresAcceptance):
        GroupMembership.objects.get_or_create(invitation=invitation, group=group, contact=opted_in)


def test_the_database_refuses_a_membership_without_an_accepted_invitation(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)

    with pytest.raises(IntegrityError), transaction.atomic():
        _insert_row(invitation)
    assert not GroupMembership.objects.exists()


def test_the_database_refuses_a_membership_for_someone_else_s_acceptance(
    group, opted_in, make_opted_in
):
    invitation = invite_contact(group=group, contact=opted_in)
    respond_to_invitation(invitation=invitation, answer="accept", source="api")
    stranger = make_opted_in()

    with pytest.raises((IntegrityError, MembershipRequiresAcceptance)), transaction.atomic():
        GroupMembership.objects.filter(pk=invitation.membership.pk).update(contact=stranger)


def test_an_invitation_has_at_most_one_membership(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)
    respond_to_invitation(invitation=invitation, answer="accept", source="api")

    with pytest.raises(IntegrityError), transaction.atomic():
        _insert_row(invitation)
    assert GroupMembership.objects.count() == 1


def test_the_admin_has_no_add_member_form(staff_client):
    response = staff_client.get("/admin/groups/groupmembership/add/")

    assert response.status_code == 403


def test_the_admin_cannot_post_a_new_member(staff_client, group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)

    response = staff_client.post(
        "/admin/groups/groupmembership/add/",
        {"invitation": invitation.pk, "group": group.pk, "contact": opted_in.pk},
    )

    assert response.status_code == 403
    assert not GroupMembership.objects.exists()


def test_the_group_page_has_no_inline_to_add_members(staff_client, group):
    response = staff_client.get(f"/admin/groups/group/{group.pk}/change/")

    assert response.status_code == 200
    # The members inline takes no new rows: Django renders it with a maximum of 0 forms.
    assert b'name="memberships-MAX_NUM_FORMS" value="0"' in response.content
    assert b'name="invitations-MAX_NUM_FORMS" value="0"' in response.content


def test_the_api_has_no_way_to_create_a_membership(group, opted_in):
    from tests.api.conftest import client_with_key

    api = client_with_key("groups:read", "groups:write")
    invitation = invite_contact(group=group, contact=opted_in)

    attempts = [
        api.post(f"/api/v1/groups/{group.pk}/members/", {"phone": str(opted_in.phone)}),
        api.put(f"/api/v1/invitations/{invitation.pk}/", {"status": "accepted"}, format="json"),
        api.patch(f"/api/v1/invitations/{invitation.pk}/", {"status": "accepted"}, format="json"),
    ]

    assert [r.status_code for r in attempts] == [405, 405, 405]
    assert not GroupMembership.objects.exists()
