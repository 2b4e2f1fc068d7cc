from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from groups.exceptions import DuplicateInvitation, InvitationRefused
from groups.models import GroupInvitation, InvitationStatus
from groups.services import invite_contact, respond_to_invitation
from tests.consent_helpers import record
from tests.factories import ContactFactory
from tests.groups.conftest import open_window
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db


def test_inviting_creates_a_pending_invitation_and_no_membership(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)

    assert invitation.status == InvitationStatus.PENDING
    assert invitation.expires_at > timezone.now() + timedelta(days=13)
    assert invitation.accept_url.endswith(f"/invitations/{invitation.token}/")
    assert not group.memberships.exists()


def test_invitation_outside_the_window_goes_as_a_template_with_answer_payloads(
    group, opted_in, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation = invite_contact(group=group, contact=opted_in)

    message = OutboundMessage.objects.get(contact_id=opted_in.pk)
    assert message.kind == "template"
    buttons = [c for c in message.payload["template"]["components"] if c["type"] == "button"]
    payloads = [b["parameters"][0]["payload"] for b in buttons]
    assert payloads == [f"invite:{invitation.pk}:accept", f"invite:{invitation.pk}:decline"]
    body = message.payload["template"]["components"][0]["parameters"]
    assert invitation.accept_url in [p["text"] for p in body]
    message.refresh_from_db()
    invitation.refresh_from_db()
    assert invitation.sent_at is not None
    assert invitation.message_wamid == message.wamid


def test_invitation_inside_the_window_has_accept_and_decline_buttons_and_the_page_link(
    group, opted_in
):
    open_window(opted_in)

    invitation = invite_contact(group=group, contact=opted_in)

    message = OutboundMessage.objects.get(contact_id=opted_in.pk)
    interactive = message.payload["interactive"]
    replies = [b["reply"] for b in interactive["action"]["buttons"]]
    assert replies == [
        {"id": f"invite:{invitation.pk}:accept", "title": "Accept"},
        {"id": f"invite:{invitation.pk}:decline", "title": "Decline"},
    ]
    assert invitation.accept_url in interactive["body"]["text"]


def test_opted_out_contact_is_not_invited_and_the_error_says_why(group, opted_out):
    with pytest.raises(InvitationRefused) as refused:
        invite_contact(group=group, contact=opted_out)

    assert refused.value.code == "opted_out"
    assert "opted out" in refused.value.detail
    assert not GroupInvitation.objects.exists()
    assert not OutboundMessage.objects.exists()


def test_contact_who_never_agreed_to_the_purpose_is_not_invited(group):
    with pytest.raises(InvitationRefused) as refused:
        invite_contact(group=group, contact=ContactFactory())

    assert refused.value.code == "no_consent"


def test_opting_out_of_another_purpose_does_not_block_the_invitation(group, opted_in):
    record(opted_in, "withdraw", "service")

    assert invite_contact(group=group, contact=opted_in).status == "pending"


def test_second_pending_invitation_is_refused(group, opted_in):
    invite_contact(group=group, contact=opted_in)

    with pytest.raises(DuplicateInvitation):
        invite_contact(group=group, contact=opted_in)
    assert GroupInvitation.objects.count() == 1


def test_database_refuses_a_second_pending_invitation_whatever_the_code(group, opted_in):
    first = invite_contact(group=group, contact=opted_in)

    with pytest.raises(IntegrityError), transaction.atomic():
        GroupInvitation.objects.create(group=group, contact=opted_in, expires_at=first.expires_at)


def test_database_allows_a_new_invitation_once_the_old_one_is_closed(group, opted_in):
    first = invite_contact(group=group, contact=opted_in)
    GroupInvitation.objects.filter(pk=first.pk).update(status="expired")

    assert invite_contact(group=group, contact=opted_in).status == "pending"


def test_reinviting_after_a_decline_waits_for_the_cooldown(group, opted_in, settings):
    settings.GROUP_REINVITE_COOLDOWN_DAYS = 30
    declined = invite_contact(group=group, contact=opted_in)
    respond_to_invitation(invitation=declined, answer="decline", source="api")

    with pytest.raises(InvitationRefused) as refused:
        invite_contact(group=group, contact=opted_in)
    assert refused.value.code == "cooldown"

    # given the decline is now 30 days old
    GroupInvitation.objects.filter(pk=declined.pk).update(
        responded_at=timezone.now() - timedelta(days=30, seconds=1)
    )
    assert invite_contact(group=group, contact=opted_in).status == "pending"


def test_cooldown_is_configurable(group, opted_in, settings):
    settings.GROUP_REINVITE_COOLDOWN_DAYS = 0
    declined = invite_contact(group=group, contact=opted_in)
    respond_to_invitation(invitation=declined, answer="decline", source="api")

    assert invite_contact(group=group, contact=opted_in).status == "pending"


def test_a_current_member_is_not_invited_again(group, opted_in):
    invitation = invite_contact(group=group, contact=opted_in)
    respond_to_invitation(invitation=invitation, answer="accept", source="api")

    with pytest.raises(InvitationRefused) as refused:
        invite_contact(group=group, contact=opted_in)
    assert refused.value.code == "already_member"


def test_a_full_group_takes_no_more_invitations(group, make_opted_in):
    group.capacity = 1
    group.save()
    first = invite_contact(group=group, contact=make_opted_in())
    respond_to_invitation(invitation=first, answer="accept", source="api")

    with pytest.raises(InvitationRefused) as refused:
        invite_contact(group=group, contact=make_opted_in())
    assert refused.value.code == "group_full"


def test_an_inactive_group_takes_no_invitations(group, opted_in):
    group.active = False
    group.save()

    with pytest.raises(InvitationRefused) as refused:
        invite_contact(group=group, contact=opted_in)
    assert refused.value.code == "group_inactive"


def test_a_failed_send_keeps_the_invitation_and_records_the_error(
    group, opted_in, monkeypatch, django_capture_on_commit_callbacks
):
    from whatsapp.client import ConsoleGraph
    from whatsapp.exceptions import InvalidRecipient

    def fail(self, payload, **kwargs):
        raise InvalidRecipient("not on WhatsApp", code=131026)

    monkeypatch.setattr(ConsoleGraph, "send_message", fail)

    with django_capture_on_commit_callbacks(execute=True):
        invitation = invite_contact(group=group, contact=opted_in)

    invitation.refresh_from_db()
    assert invitation.status == "pending"
    assert invitation.sent_at is None
    assert "not on WhatsApp" in invitation.send_error


def test_an_invitation_whose_consent_was_withdrawn_before_it_left_is_not_sent(
    group, opted_in, django_capture_on_commit_callbacks
):
    # the invitation is decided, then the person opts out before the outbox delivers it
    invitation = invite_contact(group=group, contact=opted_in)
    record(opted_in, "withdraw", "marketing")

    with django_capture_on_commit_callbacks(execute=True):
        from whatsapp.outbox import deliver_after_commit

        deliver_after_commit(OutboundMessage.objects.values_list("pk", flat=True))

    message = OutboundMessage.objects.get()
    assert (message.status, message.skip_reason) == ("skipped", "opted_out")
    invitation.refresh_from_db()
    assert invitation.sent_at is None
    assert "opted_out" in invitation.send_error


def test_a_lapsed_invitation_not_yet_expired_by_the_task_does_not_block_a_new_one(group, opted_in):
    lapsed = invite_contact(group=group, contact=opted_in)
    GroupInvitation.objects.filter(pk=lapsed.pk).update(expires_at=timezone.now())

    fresh = invite_contact(group=group, contact=opted_in)

    lapsed.refresh_from_db()
    assert lapsed.status == InvitationStatus.EXPIRED
    assert fresh.status == InvitationStatus.PENDING
