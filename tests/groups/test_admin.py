import re

import pytest

from consent.rules import Action, Source
from groups.models import GroupInvitation
from groups.services import invite_contact, respond_to_invitation
from tests.consent_helpers import record
from tests.factories import ContactFactory
from tests.groups.conftest import invited

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/contacts/contact/"


def _action(client, contacts, follow=False, **extra):
    data = {"action": "invite_to_group", "_selected_action": [str(c.pk) for c in contacts]}
    return client.post(CHANGELIST, {**data, **extra}, follow=follow)


def _opted_out(contact):
    record(contact, Action.WITHDRAW, source=Source.WHATSAPP_KEYWORD)
    return contact


def test_invite_action_first_asks_which_group(staff_client, group, opted_in):
    response = _action(staff_client, [opted_in])

    assert response.status_code == 200
    assert b"Invite contacts to a group" in response.content
    assert group.name.encode() in response.content
    assert not GroupInvitation.objects.exists()


def test_confirmation_page_shows_who_will_be_skipped_and_why(
    staff_client, group, opted_in, opted_out
):
    never_asked = ContactFactory(name="Nina No-Consent")

    response = _action(staff_client, [opted_in, opted_out, never_asked], group=group.pk)

    assert response.status_code == 200
    page = response.content.decode()
    invite_part, skip_part = page.split("Will be skipped")
    assert "Olivia Opted-In" in invite_part
    assert "Oscar Opted-Out" in skip_part and "opted out" in skip_part
    assert "Nina No-Consent" in skip_part and "no consent" in skip_part
    assert "Invite 1 contact" in page
    assert not GroupInvitation.objects.exists()


def test_confirming_invites_only_those_shown_as_invitable(staff_client, group, opted_in, opted_out):
    response = _action(staff_client, [opted_in, opted_out], group=group.pk, confirm="yes")

    assert response.status_code == 302
    invitation = GroupInvitation.objects.get()
    assert invitation.contact == opted_in
    assert invitation.invited_by == staff_client.user
    assert invitation.invite_source == "admin"
    assert not group.memberships.exists()


def test_already_pending_contacts_are_skipped_with_the_reason(staff_client, group, opted_in):
    invite_contact(group=group, contact=opted_in)

    response = _action(staff_client, [opted_in], group=group.pk)

    assert "already pending" in response.content.decode()


def test_skipped_invitations_are_warnings_not_successes(staff_client, group, opted_in):
    invite_contact(group=group, contact=opted_in)

    response = staff_client.post(
        CHANGELIST,
        {
            "action": "invite_to_group",
            "_selected_action": [str(opted_in.pk)],
            "group": group.pk,
            "confirm": "1",
        },
        follow=True,
    )

    levels = {m.level_tag: m.message for m in response.context["messages"]}
    assert "success" not in levels
    assert "1 of 1 not invited: 1 already invited" in levels["warning"]


def test_skipped_contacts_are_summed_up_in_one_warning_with_the_list_behind_a_link(
    staff_client, group, make_opted_in, opted_out
):
    invitable = [make_opted_in() for _ in range(2)]
    out = [opted_out] + [_opted_out(make_opted_in()) for _ in range(2)]
    never = [ContactFactory(name=f"Never {n}") for n in range(2)]

    response = _action(
        staff_client, [*invitable, *out, *never], group=group.pk, confirm="1", follow=True
    )

    warnings = [m.message for m in response.context["messages"] if m.level_tag == "warning"]
    link = '<a href="/admin/groups/group/not-invited/">see who and why</a>'
    assert warnings == [f"5 of 7 not invited: 3 opted out, 2 no consent — {link}"]
    listed = staff_client.get("/admin/groups/group/not-invited/")
    assert listed.status_code == 200
    listed_names = sorted(row[0] for row in listed.context["table"]["rows"])
    assert listed_names == sorted(str(c) for c in out + never)


def test_group_list_shows_the_funnel(staff_client, group, make_opted_in):
    accepted = invited(group=group, contact=make_opted_in())
    respond_to_invitation(invitation=accepted, answer="accept", source="api")
    declined = invited(group=group, contact=make_opted_in())
    respond_to_invitation(invitation=declined, answer="decline", source="api")
    invited(group=group, contact=make_opted_in())

    response = staff_client.get("/admin/groups/group/")

    assert response.status_code == 200
    [row] = response.context["cl"].result_list
    funnel = (row.n_members, row.n_sent, row.n_accepted, row.n_declined, row.n_expired)
    assert funnel == (1, 3, 1, 1, 0)
    assert b"column-accepted" in response.content


def test_group_page_shows_members_invitations_and_funnel(staff_client, group, opted_in):
    invitation = invited(group=group, contact=opted_in)
    respond_to_invitation(invitation=invitation, answer="accept", source="answer_page")

    response = staff_client.get(f"/admin/groups/group/{group.pk}/change/")

    page = response.content.decode()
    assert "Members (each from an accepted invitation; latest 100)" in page
    assert "Olivia Opted-In" in page
    # The funnel drawn: one bar per stage with its count, and the acceptance rate.
    stages = re.findall(
        r'console-funnel__label">([^<]+)</span>.*?console-funnel__n">(\d+)<', page, re.S
    )
    assert stages[:3] == [("Invitations sent", "1"), ("Accepted", "1"), ("Declined", "0")]
    assert "<strong>100%</strong> of invitations sent were accepted" in page


def test_invitation_statuses_are_read_only(staff_client, group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)

    page = staff_client.get(f"/admin/groups/groupinvitation/{invitation.pk}/change/")
    staff_client.post(
        f"/admin/groups/groupinvitation/{invitation.pk}/change/", {"status": "accepted"}
    )

    assert page.status_code == 200
    assert b'name="status"' not in page.content
    assert invitation.accept_url.encode() in page.content
    invitation.refresh_from_db()
    assert invitation.status == "pending"
    assert staff_client.get("/admin/groups/groupinvitation/add/").status_code == 403


def test_admin_pages_render(staff_client, group, opted_in):
    invite_contact(group=group, contact=opted_in)

    for url in [
        "/admin/groups/group/",
        "/admin/groups/group/add/",
        "/admin/groups/groupinvitation/",
        "/admin/groups/groupmembership/",
        f"/admin/contacts/contact/{opted_in.pk}/change/",
        "/admin/groups/group/?q=VIP",
        f"/admin/groups/groupinvitation/?group__id__exact={group.pk}",
        f"/admin/groups/groupmembership/?group__id__exact={group.pk}",
    ]:
        assert staff_client.get(url).status_code == 200, url


def test_revoke_action(staff_client, group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)

    staff_client.post(
        "/admin/groups/groupinvitation/",
        {"action": "revoke_invitations", "_selected_action": [str(invitation.pk)]},
    )

    invitation.refresh_from_db()
    assert invitation.status == "revoked"
    assert invitation.revoked_by == staff_client.user


def _staff(*, role: str):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group as Role
    from django.test import Client

    from staff.roles import sync_roles

    sync_roles()
    user = get_user_model().objects.create_user(f"{role.lower()}-user", password="pw")
    user.is_staff = True
    user.save()
    user.groups.add(Role.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


def test_marketing_can_invite_from_the_contact_list(group, opted_in):
    marketing = _staff(role="Marketing")

    response = _action(marketing, [opted_in], group=group.pk, confirm="yes")

    assert response.status_code == 302
    assert GroupInvitation.objects.filter(contact=opted_in).exists()
    assert marketing.get("/admin/groups/groupmembership/add/").status_code == 403


def test_compliance_sees_groups_but_cannot_invite(group, opted_in):
    compliance = _staff(role="Compliance")

    assert compliance.get(f"/admin/groups/group/{group.pk}/change/").status_code == 200
    changelist = compliance.get(CHANGELIST).content.decode()
    assert "invite_to_group" not in changelist
    _action(compliance, [opted_in], group=group.pk, confirm="yes")
    assert not GroupInvitation.objects.exists()
