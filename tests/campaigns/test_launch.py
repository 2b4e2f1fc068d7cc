import pytest
from django.db import OperationalError

from campaigns import tasks
from campaigns.exceptions import CampaignNotDraft
from campaigns.models import Campaign, CampaignKind, CampaignStatus, Message, MessageStatus
from campaigns.selectors import campaign_counts
from campaigns.services import cancel_campaign, fan_out_campaign, launch_campaign
from consent.models import ConsentEvent
from consent.selectors import may_send
from tests.campaigns.conftest import make_contact, message_for, sent_to
from tests.consent_helpers import record
from whatsapp.exceptions import (
    InvalidRecipient,
    RateLimited,
    RecipientStoppedMarketing,
    TemporaryFailure,
)
from whatsapp.models import OutboundMessage
from whatsapp.tasks import deliver_outbound

pytestmark = pytest.mark.django_db


def test_launch_marks_the_campaign_and_fans_out_only_after_commit(
    campaign, whatsapp, django_capture_on_commit_callbacks
):
    make_contact("opted_in")

    with django_capture_on_commit_callbacks() as callbacks:
        launch_campaign(campaign=campaign)

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.LAUNCHED
    assert campaign.launched_at is not None
    assert len(callbacks) == 1
    assert not Message.objects.exists()


def test_launch_sends_to_eligible_contacts_and_skips_the_others_with_reasons(
    campaign, whatsapp, django_capture_on_commit_callbacks
):
    # given
    ada = make_contact("opted_in", name="Ada")
    grace = make_contact("legacy")
    alan = make_contact("opted_out")
    never = make_contact(None)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=campaign)

    # then
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE
    assert campaign.finished_at is not None
    assert message_for(campaign, ada).status == MessageStatus.SENT
    assert message_for(campaign, ada).wamid.startswith("wamid.")
    assert message_for(campaign, grace).status == MessageStatus.SENT
    assert message_for(campaign, alan).skip_reason == "opted_out"
    assert message_for(campaign, never).skip_reason == "no_consent"
    assert (sent_to(ada), sent_to(grace), sent_to(alan), sent_to(never)) == (1, 1, 0, 0)
    template = OutboundMessage.objects.get(contact_id=ada.pk).payload["template"]
    assert template["name"] == "winter_sale"
    assert template["components"][0]["parameters"] == [
        {"type": "text", "text": "Ada"},
        {"type": "text", "text": "20%"},
    ]
    assert campaign_counts(campaign) | {} == {
        "queued": 0,
        "sending": 0,
        "skipped": 2,
        "sent": 2,
        "delivered": 0,
        "read": 0,
        "failed": 0,
        "unknown": 0,
    }


def test_launching_twice_is_refused(campaign, whatsapp, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=campaign)

    with pytest.raises(CampaignNotDraft) as refused:
        launch_campaign(campaign=campaign)

    assert refused.value.code == "campaign_already_launched"


def test_fan_out_sends_in_batches_of_the_configured_size(
    campaign, whatsapp, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.CAMPAIGN_SEND_BATCH_SIZE = 2
    contacts = [make_contact("opted_in") for _ in range(5)]
    batches = []
    real_delay = tasks.send_campaign_batch.delay
    monkeypatch.setattr(
        tasks.send_campaign_batch,
        "delay",
        lambda *args: batches.append(args) or real_delay(*args),
    )

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=campaign)

    assert len(batches) == 3
    assert [sent_to(c) for c in contacts] == [1] * 5


def test_an_opt_out_between_batches_stops_the_next_message(
    campaign, whatsapp, settings, django_capture_on_commit_callbacks
):
    # given two opted-in contacts, sent one per batch (in no promised order)
    settings.CAMPAIGN_SEND_BATCH_SIZE = 1
    contacts = {c.pk: c for c in (make_contact("opted_in"), make_contact("opted_in"))}
    gone_first = []

    # while the first message goes out, the other person replies STOP
    def the_other_person_opts_out(message):
        if not gone_first:
            gone_first.append(contacts[message.contact_id])
            (other,) = (c for pk, c in contacts.items() if pk != message.contact_id)
            record(other, "withdraw", source="whatsapp_keyword")

    whatsapp.before_send = the_other_person_opts_out

    # when
    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=campaign)

    # then
    (first,) = gone_first
    (second,) = (c for c in contacts.values() if c != first)
    assert message_for(campaign, first).status == MessageStatus.SENT
    stopped = message_for(campaign, second)
    assert (stopped.status, stopped.skip_reason) == (MessageStatus.SKIPPED, "opted_out")
    assert sent_to(second) == 0


def test_an_opt_out_within_a_batch_stops_the_next_message(
    campaign, whatsapp, django_capture_on_commit_callbacks
):
    # given both messages in one batch (in no promised order), checked together when it starts
    contacts = {c.pk: c for c in (make_contact("opted_in"), make_contact("opted_in"))}
    gone_first = []

    # the other person opts out while the first message is being sent
    def the_other_person_opts_out(message):
        if not gone_first:
            gone_first.append(contacts[message.contact_id])
            (other,) = (c for pk, c in contacts.items() if pk != message.contact_id)
            record(other, "withdraw", source="preference_centre")

    whatsapp.before_send = the_other_person_opts_out

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=campaign)

    # then the check made just before the second send stops it
    (first,) = gone_first
    (second,) = (c for c in contacts.values() if c != first)
    stopped = message_for(campaign, second)
    assert (stopped.status, stopped.skip_reason) == (MessageStatus.SKIPPED, "opted_out")
    assert (sent_to(first), sent_to(second)) == (1, 0)


def test_the_same_batch_task_run_twice_sends_once(
    campaign, whatsapp, django_capture_on_commit_callbacks
):
    contacts = [make_contact("opted_in") for _ in range(3)]
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.LAUNCHED)
    fan_out_campaign(campaign_id=campaign.pk)  # rows queued; batches wait for commit
    ids = list(Message.objects.filter(campaign=campaign).values_list("pk", flat=True))

    with django_capture_on_commit_callbacks(execute=True):
        tasks.send_campaign_batch(str(campaign.pk), min(ids), max(ids))
        tasks.send_campaign_batch(str(campaign.pk), min(ids), max(ids))

    assert [sent_to(c) for c in contacts] == [1, 1, 1]
    assert OutboundMessage.objects.count() == 3


def test_a_message_claimed_by_another_worker_is_not_sent_again(campaign, whatsapp):
    contact = make_contact("opted_in")
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.LAUNCHED)
    fan_out_campaign(campaign_id=campaign.pk)
    message = message_for(campaign, contact)
    Message.objects.filter(pk=message.pk).update(status=MessageStatus.SENDING)

    tasks.send_campaign_batch(str(campaign.pk), message.pk, message.pk)

    assert sent_to(contact) == 0
    assert message_for(campaign, contact).status == MessageStatus.SENDING


def test_a_rate_limit_puts_the_message_back_and_the_retry_sends_it_once(
    campaign, whatsapp, django_capture_on_commit_callbacks
):
    # given a queued message and WhatsApp asking us to slow down once
    contact = make_contact("opted_in")
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.LAUNCHED)
    fan_out_campaign(campaign_id=campaign.pk)
    message = message_for(campaign, contact)
    whatsapp.fail_next(contact, RateLimited("slow down", code=130429))

    # when the batch runs, the outbox row goes back to the queue and its task is told to retry
    with django_capture_on_commit_callbacks(execute=True):
        tasks.send_campaign_batch(str(campaign.pk), message.pk, message.pk)
    outbound = OutboundMessage.objects.get(contact_id=contact.pk)
    assert (outbound.status, outbound.attempts, outbound.error_code) == ("queued", 1, 130429)
    assert message_for(campaign, contact).status == MessageStatus.SENDING

    # and the retry sends it, once
    deliver_outbound.apply(args=[[str(outbound.pk)]], throw=True)

    assert message_for(campaign, contact).status == MessageStatus.SENT
    assert sent_to(contact) == 1
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE


def test_only_temporary_errors_are_retried_with_backoff():
    # Sending is the outbox's task: rate limits, 5xx and refused connections.
    assert deliver_outbound.autoretry_for == (RateLimited, TemporaryFailure)
    assert deliver_outbound.retry_backoff and deliver_outbound.max_retries
    # A batch only writes rows: a lost database connection is worth another try.
    assert tasks.send_campaign_batch.autoretry_for == (OperationalError,)


def test_recipient_stopped_marketing_fails_the_message_and_records_the_opt_out(
    campaign, whatsapp, django_capture_on_commit_callbacks
):
    contact = make_contact("opted_in")
    whatsapp.fail_next(
        contact, RecipientStoppedMarketing("stopped", code=131050, title="User stopped marketing")
    )

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=campaign)

    message = message_for(campaign, contact)
    assert (message.status, message.error_code) == (MessageStatus.FAILED, "131050")
    assert message.error_title == "User stopped marketing"
    assert may_send(contact, "marketing").reason == "opted_out"
    withdraws = ConsentEvent.objects.filter(contact=contact, action="withdraw")
    assert [(e.source, e.purpose) for e in withdraws] == [("whatsapp_platform", "marketing")]


def test_a_permanent_error_fails_the_message_without_retry(
    campaign, whatsapp, django_capture_on_commit_callbacks
):
    contact = make_contact("opted_in")
    whatsapp.fail_next(contact, InvalidRecipient("not on WhatsApp", code=131026, title="nope"))

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=campaign)

    message = message_for(campaign, contact)
    assert (message.status, message.error_code) == (MessageStatus.FAILED, "131026")
    assert OutboundMessage.objects.count() == 1
    assert may_send(contact, "marketing").allowed
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE


def test_a_reconsent_campaign_sends_the_one_tap_opt_in_with_its_notice(
    whatsapp, marketing_notice, django_capture_on_commit_callbacks
):
    contact = make_contact("legacy")
    campaign = Campaign.objects.create(
        name="Please re-consent", kind=CampaignKind.RECONSENT, purpose="marketing"
    )

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=campaign)

    outbound = OutboundMessage.objects.get(contact_id=contact.pk)
    assert outbound.notice_refs == ["marketing/en/1"]
    assert message_for(campaign, contact).wamid == outbound.wamid


def test_cancelling_skips_what_is_still_queued(campaign, whatsapp):
    contact = make_contact("opted_in")
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.LAUNCHED)
    fan_out_campaign(campaign_id=campaign.pk)

    skipped = cancel_campaign(campaign=campaign)

    assert skipped == 1
    assert message_for(campaign, contact).skip_reason == "campaign_cancelled"
    assert campaign.status == CampaignStatus.CANCELLED


def test_a_batch_of_a_cancelled_campaign_sends_nothing(campaign, whatsapp):
    contact = make_contact("opted_in")
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.LAUNCHED)
    fan_out_campaign(campaign_id=campaign.pk)
    message = message_for(campaign, contact)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.CANCELLED)

    tasks.send_campaign_batch(str(campaign.pk), message.pk, message.pk)

    assert message_for(campaign, contact).skip_reason == "campaign_cancelled"
    assert sent_to(contact) == 0
