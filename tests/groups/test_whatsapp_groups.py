"""Real WhatsApp groups: created needing approval, invite link only after acceptance, join
requests approved only for accepted invitations (against a fake Graph API). Every call
that decides something goes through the outbox and leaves after commit."""

import json

import pytest
from django.utils import timezone

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
from whatsapp.client import graph_client
from whatsapp.exceptions import InvalidMessage
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run `action` and then what it queued for after commit (the outbox deliveries)."""

    def run(action, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return action(*args, **kwargs)

    return run


@pytest.fixture
def wa_group(db):
    return Group.objects.create(
        name="VIP early access",
        purpose="marketing",
        whatsapp_group_id="120363000000001",
        invite_link="",
    )


def json_text(payload: dict) -> str:
    return json.dumps(payload)


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


def test_the_invite_link_is_sent_only_after_acceptance(fake_graph, wa_group, opted_in, committed):
    open_window(opted_in)
    invitation = committed(invite_contact, group=wa_group, contact=opted_in)
    invitation_message = fake_graph.calls_to("POST", "/messages")[-1].body
    assert "chat.whatsapp.com" not in json_text(invitation_message)
    assert not fake_graph.calls_to("GET", "/invite_link")

    committed(respond_to_invitation, invitation=invitation, answer="accept", source="api")

    assert fake_graph.calls_to("GET", f"/{wa_group.whatsapp_group_id}/invite_link")
    link_message = fake_graph.calls_to("POST", "/messages")[-1].body
    assert fake_graph.invite_link in link_message["text"]["body"]
    invitation.refresh_from_db()
    assert invitation.invite_link_sent_at is not None


def test_a_known_invite_link_is_queued_with_the_acceptance(fake_graph, wa_group, opted_in):
    wa_group.invite_link = "https://chat.whatsapp.com/KNOWN"
    wa_group.save()
    open_window(opted_in)
    invitation = invite_contact(group=wa_group, contact=opted_in)

    respond_to_invitation(invitation=invitation, answer="accept", source="api")

    # Nothing has left yet (no commit in this test), but the link is queued with the answer.
    assert fake_graph.calls == []
    link = OutboundMessage.objects.get(origin=f"groups.invite_link:{invitation.pk}")
    assert "https://chat.whatsapp.com/KNOWN" in link.payload["text"]["body"]


def test_a_decline_sends_no_invite_link(fake_graph, wa_group, opted_in, committed):
    invitation = committed(invite_contact, group=wa_group, contact=opted_in)

    committed(
        respond_to_invitation, invitation=invitation, answer="decline", source="whatsapp_button"
    )

    assert not fake_graph.calls_to("GET", "/invite_link")
    assert len(fake_graph.calls_to("POST", "/messages")) == 1


def test_join_requests_are_approved_only_for_accepted_invitations(
    fake_graph, wa_group, make_opted_in, committed
):
    member = make_opted_in()
    wa_group.invite_link = "https://chat.whatsapp.com/KNOWN"
    wa_group.save()
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

    decisions = committed(review_join_requests, group=wa_group)

    assert {d.request_id: d.approved for d in decisions} == {
        "jr-member": True,
        "jr-invited": False,
        "jr-stranger": False,
    }
    [approve] = fake_graph.calls_to("POST", "/join_requests")
    rejects = fake_graph.calls_to("DELETE", "/join_requests")
    assert approve.body == {"messaging_product": "whatsapp", "join_requests": ["jr-member"]}
    assert sorted(r.body["join_requests"][0] for r in rejects) == ["jr-invited", "jr-stranger"]
    approved = OutboundMessage.objects.get(origin__endswith=":jr-member")
    assert approved.status == OutboundMessage.Status.ACCEPTED
    assert approved.result["approved_join_requests"] == ["jr-member"]


def test_a_decision_the_platform_did_not_apply_is_shown_then_tried_again(
    fake_graph, wa_group, committed
):
    fake_graph.refuse_join_requests = {"jr-x"}

    committed(decide_join_request, group=wa_group, request_id="jr-x", wa_id="447911000998")

    row = OutboundMessage.objects.get(origin__endswith=":jr-x")
    assert (row.status, row.error_code) == (OutboundMessage.Status.FAILED, 131203)
    assert "jr-x" in row.error_title

    # the request is still pending on the platform: polling decides it again
    fake_graph.refuse_join_requests = set()
    committed(decide_join_request, group=wa_group, request_id="jr-x", wa_id="447911000998")

    row.refresh_from_db()
    assert row.status == OutboundMessage.Status.ACCEPTED
    assert len(fake_graph.calls_to("DELETE", "/join_requests")) == 2


def test_the_same_join_request_is_decided_once(fake_graph, wa_group, committed):
    committed(decide_join_request, group=wa_group, request_id="jr-1", wa_id="447911000998")
    committed(decide_join_request, group=wa_group, request_id="jr-1", wa_id="447911000998")

    assert len(fake_graph.calls_to("DELETE", "/join_requests")) == 1


def test_a_member_who_left_is_not_approved_again(fake_graph, wa_group, opted_in):
    invitation = invite_contact(group=wa_group, contact=opted_in)
    respond_to_invitation(invitation=invitation, answer="accept", source="api")
    leave_group(membership=invitation.membership, source="whatsapp_platform")

    decision = decide_join_request(group=wa_group, request_id="jr-1", wa_id=opted_in.wa_id)

    assert decision.approved is False


def test_leaving_from_the_api_removes_the_person_from_the_whatsapp_group(
    fake_graph, wa_group, opted_in, committed
):
    invitation = invite_contact(group=wa_group, contact=opted_in)
    respond_to_invitation(invitation=invitation, answer="accept", source="api")

    committed(leave_group, membership=GroupMembership.objects.get(), source="api")

    [call] = fake_graph.calls_to("DELETE", "/participants")
    assert call.body["participants"] == [{"user": opted_in.wa_id}]


def test_leaving_the_whatsapp_group_is_dated_by_the_webhook(wa_group, opted_in):
    from whatsapp.events import GroupParticipantsEvent
    from whatsapp.handlers import dispatch

    invitation = invite_contact(group=wa_group, contact=opted_in)
    respond_to_invitation(invitation=invitation, answer="accept", source="api")
    left_at = timezone.now().replace(microsecond=0) - timezone.timedelta(hours=3)

    dispatch(
        "group_participants",
        GroupParticipantsEvent(
            group_id=wa_group.whatsapp_group_id,
            type="participants_remove",
            timestamp=left_at,
            wa_id=opted_in.wa_id,
            user_id=None,
            request_id="",
            raw={},
        ),
    )

    membership = GroupMembership.objects.get()
    assert (membership.left_at, membership.left_source) == (left_at, "whatsapp_platform")


def test_the_polling_task_reviews_every_whatsapp_group(fake_graph, wa_group, committed):
    fake_graph.join_requests[wa_group.whatsapp_group_id] = [
        {"join_request_id": "jr-x", "wa_id": "447911000998", "creation_timestamp": "1"}
    ]

    assert committed(review_task) == 1
    assert fake_graph.calls_to("DELETE", "/join_requests")


def test_platform_errors_carry_the_graph_error(fake_graph):
    fake_graph.fail_with = (400, {"error": {"message": "Invalid group", "code": 131009}})

    with pytest.raises(InvalidMessage) as failed:
        graph_client().get_invite_link("nope")

    assert failed.value.code == 131009


def test_console_backend_needs_no_network(settings, group):
    settings.WHATSAPP_BACKEND = "console"

    create_whatsapp_group(group=group)

    group.refresh_from_db()
    assert group.whatsapp_group_id.startswith("console-group-")
    assert graph_client().list_join_requests(group.whatsapp_group_id) == []


def test_an_invite_link_that_could_not_be_fetched_is_sent_later(
    fake_graph, wa_group, opted_in, committed
):
    open_window(opted_in)
    invitation = committed(invite_contact, group=wa_group, contact=opted_in)
    fake_graph.fail_with = (500, {"error": {"message": "try later", "code": 1}})

    committed(respond_to_invitation, invitation=invitation, answer="accept", source="api")

    invitation.refresh_from_db()
    assert invitation.status == "accepted"
    assert invitation.invite_link_sent_at is None

    fake_graph.fail_with = None
    committed(review_task)

    invitation.refresh_from_db()
    assert invitation.invite_link_sent_at is not None
    assert (
        fake_graph.invite_link in fake_graph.calls_to("POST", "/messages")[-1].body["text"]["body"]
    )
