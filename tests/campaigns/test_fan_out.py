"""Fan-out: the database writes one queued message per audience contact, in chunks."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.fanout import queue_messages
from campaigns.models import Campaign, CampaignKind, CampaignStatus, Message, MessageStatus
from contacts.models import Contact, Tag
from tests.campaigns.conftest import make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_chunks(settings):
    settings.CAMPAIGN_FAN_OUT_CHUNK = 4


def launched(**audience) -> Campaign:
    tags = audience.pop("tags", [])
    campaign = Campaign.objects.create(
        name="spring",
        kind=CampaignKind.MARKETING,
        purpose="marketing",
        template_name="spring_sale",
        status=CampaignStatus.LAUNCHED,
        **audience,
    )
    campaign.audience_tags.set(tags)
    return campaign


def ids_in(ranges: list[tuple[int, int]]) -> set[int]:
    return {pk for first, last in ranges for pk in range(first, last + 1)}


def test_every_audience_contact_gets_one_queued_message_within_the_ranges(small_chunks):
    # given eleven contacts in every state, one erased
    contacts = [make_contact(s) for s in ["opted_in", "opted_out", None, "paused"] * 3]
    Contact.objects.filter(pk=contacts[-1].pk).update(erased_at=contacts[-1].created_at)
    campaign = launched()

    # when fanned out in chunks of four, send batches of three
    ranges = queue_messages(campaign=campaign, batch_size=3)

    # then each contact but the erased one has one queued message, in exactly one batch
    messages = Message.objects.filter(campaign=campaign)
    assert sorted(messages.values_list("contact_id", flat=True)) == sorted(
        c.pk for c in contacts[:-1]
    )
    assert set(messages.values_list("status", flat=True)) == {MessageStatus.QUEUED}
    assert ids_in(ranges) >= set(messages.values_list("pk", flat=True))
    assert all(last - first < 3 for first, last in ranges)
    covered = [pk for first, last in ranges for pk in range(first, last + 1)]
    assert len(covered) == len(set(covered))


def test_run_again_it_adds_nothing_and_hands_out_what_is_still_queued(small_chunks):
    # given a fan-out done once, and one message already sent
    for _ in range(6):
        make_contact("opted_in")
    campaign = launched()
    queue_messages(campaign=campaign, batch_size=2)
    sent = Message.objects.filter(campaign=campaign).order_by("pk").first()
    Message.objects.filter(pk=sent.pk).update(status=MessageStatus.SENT)

    # when run again (a retried task)
    ranges = queue_messages(campaign=campaign, batch_size=2)

    # then no row is added, and every still-queued message is in a batch again
    assert Message.objects.filter(campaign=campaign).count() == 6
    queued = Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED)
    assert ids_in(ranges) >= set(queued.values_list("pk", flat=True))


def test_the_audience_filters_apply_in_the_database(small_chunks):
    # given tagged contacts with and without marketing consent, and untagged ones
    spring = Tag.objects.create(name="spring")
    never_asked, opted_in, opted_out = (
        make_contact(None),
        make_contact("opted_in"),
        make_contact("opted_out"),
    )
    for contact in (never_asked, opted_in, opted_out):
        contact.tags.add(spring)
    make_contact(None)
    campaign = launched(tags=[spring], audience_states=["none", "opted_in"])

    # when fanned out
    queue_messages(campaign=campaign, batch_size=10)

    # then only the tagged contacts in the ticked states (no row counts as none) are queued
    queued = set(Message.objects.filter(campaign=campaign).values_list("contact_id", flat=True))
    assert queued == {never_asked.pk, opted_in.pk}


def test_queries_grow_with_chunks_not_with_contacts(settings):
    def queries_for(contacts: int) -> int:
        Message.objects.all().delete()
        Campaign.objects.all().delete()
        for _ in range(contacts):
            make_contact("opted_in")
        campaign = launched()
        with CaptureQueriesContext(connection) as captured:
            queue_messages(campaign=campaign, batch_size=5)
        return len(captured.captured_queries)

    settings.CAMPAIGN_FAN_OUT_CHUNK = 1000

    assert queries_for(5) == queries_for(30)
