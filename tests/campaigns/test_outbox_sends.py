"""Campaign messages leave through the outbox: the gate at send, derived status, resuming."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import services, tasks
from campaigns.models import Campaign, CampaignKind, CampaignStatus, Message, MessageStatus
from campaigns.services import cancel_campaign, fan_out_campaign, launch_campaign
from tests.campaigns.conftest import make_contact, message_for, sent_to
from tests.consent_helpers import record
from whatsapp import delivery
from whatsapp.exceptions import InvalidRecipient, OutcomeUnknown
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db


def fanned_out(campaign: Campaign) -> list[int]:
    """The campaign launched and its messages queued; the batches not run yet."""
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.LAUNCHED, launched_at=timezone.now()
    )
    fan_out_campaign(campaign_id=campaign.pk)
    return list(
        Message.objects.filter(campaign=campaign).order_by("pk").values_list("pk", flat=True)
    )


def test_a_batch_hands_its_messages_to_the_outbox_in_a_constant_number_of_queries(
    campaign, whatsapp, django_assert_max_num_queries
):
    for _ in range(30):
        make_contact("opted_in")
    ids = fanned_out(campaign)

    # campaign, pre-skip (2), pick + lock, insert outbox rows, mark handed over, status
    with django_assert_max_num_queries(12):
        queued = services.send_campaign_batch(
            campaign_id=campaign.pk, first_message_id=ids[0], last_message_id=ids[-1]
        )

    assert queued == 30
    assert OutboundMessage.objects.filter(purpose="marketing").count() == 30
    assert set(Message.objects.values_list("status", flat=True)) == {MessageStatus.SENDING}


def test_an_opt_out_after_the_batch_but_before_the_send_stops_the_message(
    campaign, whatsapp, django_capture_on_commit_callbacks
):
    contact = make_contact("opted_in")
    ids = fanned_out(campaign)
    services.send_campaign_batch(
        campaign_id=campaign.pk, first_message_id=ids[0], last_message_id=ids[-1]
    )
    # handed to the outbox; the person says STOP before it leaves
    record(contact, "withdraw", source="whatsapp_keyword")

    delivery.deliver(OutboundMessage.objects.values_list("pk", flat=True))

    message = message_for(campaign, contact)
    assert (message.status, message.skip_reason) == (MessageStatus.SKIPPED, "opted_out")
    assert sent_to(contact) == 0
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE


def test_failing_the_second_message_still_finishes_the_campaign(
    campaign, whatsapp, django_capture_on_commit_callbacks
):
    contacts = [make_contact("opted_in") for _ in range(4)]
    whatsapp.fail_next(contacts[1], InvalidRecipient("not on WhatsApp", code=131026))

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=campaign)

    statuses = [message_for(campaign, c).status for c in contacts]
    assert statuses == ["sent", "failed", "sent", "sent"]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE


def test_a_message_whose_fate_is_unknown_is_listed_and_the_campaign_does_not_hang(
    campaign, whatsapp, django_capture_on_commit_callbacks
):
    contacts = [make_contact("opted_in") for _ in range(3)]
    whatsapp.fail_next(contacts[1], OutcomeUnknown("read timeout"))

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=campaign)

    assert message_for(campaign, contacts[1]).status == MessageStatus.UNKNOWN
    assert OutboundMessage.objects.get(status="unknown").contact_id == contacts[1].pk
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE


def test_staff_marking_an_unknown_message_sent_counts_it_sent(
    campaign, whatsapp, django_capture_on_commit_callbacks, staff_client
):
    from whatsapp.outbox import mark_sent

    contact = make_contact("opted_in")
    whatsapp.fail_next(contact, OutcomeUnknown("read timeout"))
    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=campaign)

    mark_sent(outbound=OutboundMessage.objects.get(), actor=staff_client.user)

    assert message_for(campaign, contact).status == MessageStatus.SENT


def test_a_batch_whose_task_died_is_resumed_where_it_stopped(
    campaign, whatsapp, django_capture_on_commit_callbacks
):
    # given a campaign whose batch task died before queueing its messages
    contacts = [make_contact("opted_in") for _ in range(3)]
    fanned_out(campaign)
    Message.objects.filter(campaign=campaign).update(
        created_at=timezone.now() - timedelta(minutes=30)
    )
    first = message_for(campaign, contacts[0])
    services.send_campaign_batch(
        campaign_id=campaign.pk, first_message_id=first.pk, last_message_id=first.pk
    )
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING

    # when the resume task runs
    with django_capture_on_commit_callbacks(execute=True):
        resumed = tasks.resume_stalled_campaigns()
    delivery.deliver(OutboundMessage.objects.values_list("pk", flat=True))

    # then the two still queued are sent, the one already handed over is not sent twice
    assert resumed == 1
    assert [sent_to(c) for c in contacts] == [1, 1, 1]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE


def test_recently_queued_messages_are_not_taken_for_stalled(campaign, whatsapp):
    make_contact("opted_in")
    fanned_out(campaign)

    assert list(services.stalled_batches()) == []


def test_a_fan_out_that_died_is_started_again(campaign, monkeypatch):
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.SENDING, launched_at=timezone.now() - timedelta(hours=1)
    )
    restarted = []
    monkeypatch.setattr(tasks.fan_out_campaign, "delay", restarted.append)

    tasks.resume_stalled_campaigns()

    assert restarted == [str(campaign.pk)]


def test_the_status_stays_sending_while_a_message_is_on_its_way(campaign, whatsapp):
    make_contact("opted_in")
    make_contact("opted_in")
    ids = fanned_out(campaign)
    services.send_campaign_batch(
        campaign_id=campaign.pk, first_message_id=ids[0], last_message_id=ids[-1]
    )
    first = OutboundMessage.objects.order_by("created_at").first()
    delivery.deliver([first.pk])

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING

    delivery.deliver(OutboundMessage.objects.values_list("pk", flat=True))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE


def test_cancelling_also_stops_what_waits_in_the_outbox(campaign, whatsapp):
    contact = make_contact("opted_in")
    ids = fanned_out(campaign)
    services.send_campaign_batch(
        campaign_id=campaign.pk, first_message_id=ids[0], last_message_id=ids[-1]
    )

    skipped = cancel_campaign(campaign=campaign)
    delivery.deliver(OutboundMessage.objects.values_list("pk", flat=True))

    assert skipped == 1
    assert message_for(campaign, contact).skip_reason == "campaign_cancelled"
    assert OutboundMessage.objects.get().status == OutboundMessage.Status.SKIPPED
    assert sent_to(contact) == 0


def test_a_username_only_contact_is_reached_by_its_business_scoped_id(
    campaign, whatsapp, django_capture_on_commit_callbacks
):
    from contacts.models import Contact

    only_username = Contact.objects.create(
        whatsapp_user_id="US.13491208655302741918", username="ada.l"
    )
    record(only_username, "grant")

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=campaign)

    outbound = OutboundMessage.objects.get(contact_id=only_username.pk)
    assert outbound.payload["recipient"] == "US.13491208655302741918"
    assert "to" not in outbound.payload
    assert message_for(campaign, only_username).status == MessageStatus.SENT


def test_a_reconsent_campaign_asks_with_the_template_outside_the_window(
    whatsapp, marketing_notice, django_capture_on_commit_callbacks
):
    contact = make_contact("legacy")
    campaign = Campaign.objects.create(
        name="Please re-consent", kind=CampaignKind.RECONSENT, purpose="marketing"
    )

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=campaign)

    outbound = OutboundMessage.objects.get(contact_id=contact.pk)
    assert outbound.kind == OutboundMessage.Kind.TEMPLATE
    assert outbound.notice_refs == ["marketing/en/1"]
    assert message_for(campaign, contact).status == MessageStatus.SENT


@pytest.mark.parametrize(
    "story", ["opted_in", "legacy", "expired", "opted_out", "pending", "paused", None]
)
def test_the_check_at_send_answers_as_may_send(story):
    from consent.selectors import may_send
    from conversation.outreach import consent_allows

    contact = make_contact(story)

    decision = may_send(contact, "marketing")

    assert consent_allows(contact.pk, "marketing") == (
        None if decision.allowed else decision.reason
    )


def test_the_check_at_send_follows_a_pause_that_has_ended():
    from consent.models import ConsentState
    from conversation.outreach import consent_allows

    contact = make_contact("paused")
    assert consent_allows(contact.pk, "marketing") == "paused"
    # the weeks the person chose have passed
    ConsentState.objects.filter(contact=contact, purpose="marketing").update(
        paused_until=timezone.now() - timedelta(minutes=1)
    )

    assert consent_allows(contact.pk, "marketing") is None


def test_the_check_at_send_refuses_an_unknown_contact(db):
    import uuid

    from conversation.outreach import consent_allows

    assert consent_allows(uuid.uuid4(), "marketing") == "unknown_contact"
