"""Real WhatsApp groups: created needing approval, invite link only after acceptance, join
requests approved only for accepted invitations (against a fake Graph API)."""

import pytest

from groups import platform
from groups.models import Group, GroupMembership
from groups.services import invite_contact, leave_group, respond_to_invitation
from groups.tasks import review_join_requests as review_task
from groups.whatsapp_groups import (
    create_whatsapp_group,
    decide_join_request,
    record_whatsapp_group_created,
    review_join_requests,
)
from tests.groups.conftest import open_window

pytestmark = pytest.mark.django_db


@pytest.fixture
def wa_group(db):
    return Group.objects.create(
        name="VIP early access", purpose="marketing", whatsapp_group_id="120363000000001"
    )


def test_creating_a_group_asks_for_approval_to_join(fake_graph, group):
    create_whatsapp_group(group=group)

    [call] = fake_graph.calls_to("POST", "/v23.0/1000001/groups")
    assert call.body["join_approval_mode"] == "approval_required"
    assert call.body["subject"] == "VIP early access"
    assert call.authorization == "Bearer test-token"
    group.refresh_from_db()
    assert group.whatsapp_request_id.startswith("request-")


def test_the_lifecycle_webhook_completes_the_group(fake_graph, group):
    create_whatsapp_group(group=group)

    record_whatsapp_group_created(
        request_id=group.whatsapp_request_id,
        group_id="120363999",
        invite_link="https://chat.whatsapp.com/NEW",
    )

    group.refresh_from_db()
    assert (group.whatsapp_group_id, group.invite_link) == (
        "120363999",
        "https://chat.whatsapp.com/NEW",
    )


def test_polling_finds_the_created_group_and_its_invite_link(fake_graph, group):
    create_whatsapp_group(group=group)
    fake_graph.active_groups = [{"id": "120363777", "subject": "VIP early access"}]

    review_task()

    group.refresh_from_db()
    assert group.whatsapp_group_id == "120363777"
    assert group.invite_link == fake_graph.invite_link


def test_the_invite_link_is_sent_only_after_acceptance(fake_graph, wa_group, opted_in):
    open_window(opted_in)
    invitation = invite_contact(group=wa_group, contact=opted_in)
    invitation_message = fake_graph.calls_to("POST", "/messages")[-1].body
    assert "chat.whatsapp.com" not in json_text(invitation_message)
    assert not fake_graph.calls_to("GET", "/invite_link")

    respond_to_invitation(invitation=invitation, answer="accept", source="whatsapp_button")

    assert fake_graph.calls_to("GET", f"/{wa_group.whatsapp_group_id}/invite_link")
    link_message = fake_graph.calls_to("POST", "/messages")[-1].body
    assert fake_graph.invite_link in link_message["text"]["body"]
    invitation.refresh_from_db()
    assert invitation.invite_link_sent_at is not None


def test_a_decline_sends_no_invite_link(fake_graph, wa_group, opted_in):
    invitation = invite_contact(group=wa_group, contact=opted_in)

    respond_to_invitation(invitation=invitation, answer="decline", source="whatsapp_button")

    assert not fake_graph.calls_to("GET", "/invite_link")
    assert len(fake_graph.calls_to("POST", "/messages")) == 1


def test_join_requests_are_approved_only_for_accepted_invitations(
    fake_graph, wa_group, make_opted_in
):
    member = make_opted_in()
    respond_to_invitation(
        invitation=invite_contact(group=wa_group, contact=member), answer="accept", source="api"
    )
    only_invited = make_opted_in()
    invite_contact(group=wa_group, contact=only_invited)
    fake_graph.join_requests[wa_group.whatsapp_group_id] = [
        {
            "join_request_id": "jr-member",
            "wa_id": member.wa_id,
            "user_id": "US.1",
            "creation_timestamp": "1764000000",
        },
        {
            "join_request_id": "jr-invited",
            "wa_id": only_invited.wa_id,
            "user_id": "US.2",
            "creation_timestamp": "1764000000",
        },
        {
            "join_request_id": "jr-stranger",
            "wa_id": "447911000999",
            "user_id": "US.3",
            "creation_timestamp": "1764000000",
        },
    ]

    decisions = review_join_requests(group=wa_group)

    assert {d.request_id: d.approved for d in decisions} == {
        "jr-member": True,
        "jr-invited": False,
        "jr-stranger": False,
    }
    [approve] = fake_graph.calls_to("POST", "/join_requests")
    rejects = fake_graph.calls_to("DELETE", "/join_requests")
    assert approve.body == {"messaging_product": "whatsapp", "join_requests": ["jr-member"]}
    assert sorted(r.body["join_requests"][0] for r in rejects) == ["jr-invited", "jr-stranger"]


def test_a_member_who_left_is_not_approved_again(fake_graph, wa_group, opted_in):
    invitation = invite_contact(group=wa_group, contact=opted_in)
    respond_to_invitation(invitation=invitation, answer="accept", source="api")
    leave_group(membership=invitation.membership, source="whatsapp_platform")

    decision = decide_join_request(group=wa_group, request_id="jr-1", wa_id=opted_in.wa_id)

    assert decision.approved is False


def test_leaving_from_the_api_removes_the_person_from_the_whatsapp_group(
    fake_graph, wa_group, opted_in
):
    invitation = invite_contact(group=wa_group, contact=opted_in)
    respond_to_invitation(invitation=invitation, answer="accept", source="api")

    leave_group(membership=GroupMembership.objects.get(), source="api")

    [call] = fake_graph.calls_to("DELETE", "/participants")
    assert call.body["participants"] == [{"user": opted_in.wa_id}]


def test_the_polling_task_reviews_every_whatsapp_group(fake_graph, wa_group):
    fake_graph.join_requests[wa_group.whatsapp_group_id] = [
        {"join_request_id": "jr-x", "wa_id": "447911000998", "creation_timestamp": "1"}
    ]

    assert review_task() == 1
    assert fake_graph.calls_to("DELETE", "/join_requests")


def test_platform_errors_carry_the_graph_error(fake_graph):
    fake_graph.fail_with = (400, {"error": {"message": "Invalid group", "code": 131009}})

    with pytest.raises(platform.PlatformError) as failed:
        platform.get_client().get_invite_link("nope")

    assert (failed.value.code, failed.value.status) == (131009, 400)


def test_console_backend_needs_no_network(settings, group):
    settings.WHATSAPP_BACKEND = "console"

    create_whatsapp_group(group=group)

    group.refresh_from_db()
    assert group.whatsapp_group_id.startswith("console-group-")
    assert platform.get_client().list_join_requests(group.whatsapp_group_id) == []


def json_text(payload: dict) -> str:
    import json

    return json.dumps(payload)


def test_an_invite_link_that_could_not_be_fetched_is_sent_later(fake_graph, wa_group, opted_in):
    open_window(opted_in)
    invitation = invite_contact(group=wa_group, contact=opted_in)
    fake_graph.fail_with = (500, {"error": {"message": "try later", "code": 1}})

    respond_to_invitation(invitation=invitation, answer="accept", source="api")

    invitation.refresh_from_db()
    assert invitation.status == "accepted"
    assert invitation.invite_link_sent_at is None

    fake_graph.fail_with = None
    review_task()

    invitation.refresh_from_db()
    assert invitation.invite_link_sent_at is not None
    assert (
        fake_graph.invite_link in fake_graph.calls_to("POST", "/messages")[-1].body["text"]["body"]
    )
