"""Answers by WhatsApp button, end to end: a signed POST to /webhooks/whatsapp/, stored, then
processed by the Celery task (eager in tests) into the groups handler."""

import pytest
from django.core.management import call_command

from groups.models import GroupMembership, InvitationStatus
from groups.samples import invitation_button_reply
from groups.services import revoke_invitation
from tests.groups.conftest import invited
from tests.whatsapp.helpers import SECRET, post_webhook
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _webhook_secret(settings):
    settings.WHATSAPP_APP_SECRET = SECRET


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    def _deliver(payload):
        with django_capture_on_commit_callbacks(execute=True):
            return post_webhook(client, payload)

    return _deliver


def test_tapping_accept_makes_a_member_with_the_message_as_evidence(deliver, group, opted_in):
    invitation = invited(group=group, contact=opted_in)
    payload = invitation_button_reply(invitation=invitation, answer="accept")

    response = deliver(payload)

    assert response.status_code == 200
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.ACCEPTED
    assert invitation.answer_source == "whatsapp_button"
    assert invitation.answer_wamid == f"wamid.SAMPLE-INVITE-accept-{invitation.pk}"
    assert invitation.answer_context["prompted_by_wamid"] == invitation.message_wamid
    assert GroupMembership.objects.get().invitation == invitation


def test_the_member_gets_a_confirmation_with_a_leave_button_and_can_leave(deliver, group, opted_in):
    invitation = invited(group=group, contact=opted_in)
    deliver(invitation_button_reply(invitation=invitation, answer="accept"))
    confirmation = OutboundMessage.objects.filter(kind="buttons").latest("created_at")
    [leave_button] = confirmation.payload["interactive"]["action"]["buttons"]
    membership = GroupMembership.objects.get()
    assert leave_button["reply"]["id"] == f"group:{membership.pk}:leave"

    payload = invitation_button_reply(invitation=invitation, answer="accept")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["id"] = "wamid.LEAVE"
    message["interactive"]["button_reply"] = {"id": f"group:{membership.pk}:leave", "title": "x"}
    deliver(payload)

    membership.refresh_from_db()
    assert membership.left_at is not None
    assert membership.left_source == "whatsapp_button"


def test_tapping_decline_makes_no_member(deliver, group, opted_in):
    invitation = invited(group=group, contact=opted_in)

    deliver(invitation_button_reply(invitation=invitation, answer="decline"))

    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.DECLINED
    assert not GroupMembership.objects.exists()


def test_a_redelivered_accept_is_one_membership(deliver, group, opted_in):
    invitation = invited(group=group, contact=opted_in)
    payload = invitation_button_reply(invitation=invitation, answer="accept")

    deliver(payload)
    deliver(payload)

    assert GroupMembership.objects.count() == 1


def test_accepting_a_revoked_invitation_by_button_is_refused_and_told(deliver, group, opted_in):
    invitation = invited(group=group, contact=opted_in)
    revoke_invitation(invitation=invitation)

    deliver(invitation_button_reply(invitation=invitation, answer="accept"))

    assert not GroupMembership.objects.exists()
    reply = OutboundMessage.objects.filter(kind="text").latest("created_at")
    assert "withdrawn" in reply.payload["text"]["body"]


def test_someone_else_cannot_answer_an_invitation(deliver, group, opted_in, make_opted_in):
    invitation = invited(group=group, contact=opted_in)
    payload = invitation_button_reply(invitation=invitation, answer="accept")
    intruder = make_opted_in()
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = value["messages"][0]["from"] = intruder.wa_id

    deliver(payload)

    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PENDING
    assert not GroupMembership.objects.exists()


def test_an_unsigned_reply_changes_nothing(client, group, opted_in):
    invitation = invited(group=group, contact=opted_in)

    response = post_webhook(
        client, invitation_button_reply(invitation=invitation, answer="accept"), signature=None
    )

    assert response.status_code == 403
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PENDING


def test_a_join_request_webhook_is_approved_for_an_accepted_invitation(
    deliver, fake_graph, opted_in, make_opted_in
):
    import json
    from pathlib import Path
    from string import Template

    from groups.models import Group
    from groups.services import respond_to_invitation

    wa_group = Group.objects.create(name="VIP", whatsapp_group_id="120363000000009")
    respond_to_invitation(
        invitation=invited(group=wa_group, contact=opted_in), answer="accept", source="api"
    )
    sample = Template(Path("samples/group_join_request.json").read_text())

    def join_request(request_id, wa_id):
        return json.loads(
            sample.substitute(
                TIMESTAMP="1764000000",
                GROUP_ID=wa_group.whatsapp_group_id,
                JOIN_REQUEST_ID=request_id,
                WA_ID=wa_id,
            )
        )

    deliver(join_request("jr-member", opted_in.wa_id))
    deliver(join_request("jr-stranger", make_opted_in().wa_id))

    [approved] = fake_graph.calls_to("POST", "/join_requests")
    [rejected] = fake_graph.calls_to("DELETE", "/join_requests")
    assert approved.body["join_requests"] == ["jr-member"]
    assert rejected.body["join_requests"] == ["jr-stranger"]


def test_the_reply_payload_command_prints_a_filled_sample(group, opted_in, capsys):
    invitation = invited(group=group, contact=opted_in)

    call_command("invitation_reply_payload", str(invitation.pk), "accept")

    assert f"invite:{invitation.pk}:accept" in capsys.readouterr().out
