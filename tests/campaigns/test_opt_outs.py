from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Message, MessageStatus
from campaigns.selectors import campaign_opt_outs
from consent.services import Evidence
from tests.campaigns.conftest import make_contact
from tests.consent_helpers import record

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def delivered(campaign: Campaign, contact, wamid: str, hours_ago: float) -> Message:
    at = NOW - timedelta(hours=hours_ago)
    return Message.objects.create(
        campaign=campaign,
        contact=contact,
        status=MessageStatus.DELIVERED,
        wamid=wamid,
        sent_at=at,
        delivered_at=at,
    )


@pytest.fixture
def other_campaign(db) -> Campaign:
    return Campaign.objects.create(
        name="Spring sale", kind="marketing", purpose="marketing", template_name="spring_sale"
    )


def test_a_withdraw_replying_to_a_campaign_message_counts_for_that_campaign(
    campaign, other_campaign
):
    # given
    contact = make_contact("opted_in")
    message = delivered(campaign, contact, "wamid.winter", hours_ago=3)
    delivered(other_campaign, contact, "wamid.spring", hours_ago=1)

    # when the person taps "stop" on the winter message
    event = record(
        contact,
        "withdraw",
        source="whatsapp_button",
        evidence=Evidence(prompted_by_wamid="wamid.winter"),
    )

    # then
    opt_outs = campaign_opt_outs(campaign)
    assert [(o.event, o.message, o.how) for o in opt_outs] == [(event, message, "named")]
    assert campaign_opt_outs(other_campaign) == []


def test_a_withdraw_naming_no_message_counts_for_the_last_one_delivered_before_it(
    campaign, other_campaign
):
    contact = make_contact("opted_in")
    delivered(campaign, contact, "wamid.winter", hours_ago=3)
    spring = delivered(other_campaign, contact, "wamid.spring", hours_ago=1)

    event = record(contact, "withdraw", source="whatsapp_keyword")

    assert campaign_opt_outs(campaign) == []
    [opt_out] = campaign_opt_outs(other_campaign)
    assert (opt_out.event, opt_out.message, opt_out.how) == (event, spring, "last_delivered")


def test_a_message_delivered_after_the_withdraw_did_not_cause_it(campaign):
    contact = make_contact("opted_in")
    record(contact, "withdraw", source="preference_centre", at=NOW - timedelta(hours=5))
    delivered(campaign, contact, "wamid.after", hours_ago=1)

    assert campaign_opt_outs(campaign) == []


def test_a_read_message_counts_as_delivered(campaign):
    contact = make_contact("opted_in")
    Message.objects.create(
        campaign=campaign,
        contact=contact,
        status=MessageStatus.READ,
        wamid="wamid.read-only",
        read_at=NOW - timedelta(hours=1),
    )

    record(contact, "withdraw", source="whatsapp_keyword")

    assert [o.how for o in campaign_opt_outs(campaign)] == ["last_delivered"]


def test_opt_outs_are_found_in_a_constant_number_of_queries(
    campaign, django_assert_max_num_queries
):
    for n in range(10):
        contact = make_contact("opted_in")
        delivered(campaign, contact, f"wamid.{n}", hours_ago=2)
        prompted = Evidence(prompted_by_wamid=f"wamid.{n}") if n % 2 else Evidence()
        record(contact, "withdraw", source="whatsapp_keyword", evidence=prompted)

    with django_assert_max_num_queries(4):
        assert len(campaign_opt_outs(campaign)) == 10
