"""A campaign aimed at a topic ("Offers") reaches only those who chose it: the preview says
why the others are left out, the fan-out queues only the chosen, and someone who turns the
topic off after their message was queued is not sent it."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from campaigns.admin import audience_table
from campaigns.models import Campaign, MessageStatus
from campaigns.selectors import preview_campaign
from campaigns.services import launch_campaign
from consent.models import ConsentState, Topic, TopicState
from consent.rules import Action, Status
from consent.selectors import may_send_topic
from tests.api.conftest import client_with_key
from tests.campaigns.conftest import make_contact, message_for, sent_to
from tests.campaigns.test_template_picker import form_data
from tests.factories import ContactFactory, TemplateFactory, TopicFactory, TopicNoticeFactory
from tests.topics.helpers import answer_topic

pytestmark = pytest.mark.django_db


@pytest.fixture
def offers(db) -> Topic:
    topic = TopicFactory(key="offers", names={"en": "Offers"})
    TopicNoticeFactory(topic=topic, language="en")
    return topic


@pytest.fixture
def arrivals(db) -> Topic:
    topic = TopicFactory(key="new_arrivals", names={"en": "New arrivals"})
    TopicNoticeFactory(topic=topic, language="en")
    return topic


def campaign_to(topic: Topic, name: str) -> Campaign:
    return Campaign.objects.create(
        name=name,
        kind="marketing",
        purpose="marketing",
        topic=topic,
        template_name="winter_sale",
        template_language="en",
    )


@pytest.fixture
def customers(offers, arrivals):
    """Ada kept New arrivals and turned Offers off; Bo chose both; Cy never chose a topic."""
    ada, bo, cy = (make_contact("opted_in", name=n) for n in ("Ada", "Bo", "Cy"))
    for person in (ada, bo):
        answer_topic(person, offers, Action.GRANT)
        answer_topic(person, arrivals, Action.GRANT)
    answer_topic(ada, offers, Action.WITHDRAW)
    return ada, bo, cy


def test_a_campaign_to_offers_skips_who_turned_it_off_and_one_to_new_arrivals_reaches_them(
    customers, offers, arrivals, whatsapp, django_capture_on_commit_callbacks
):
    ada, bo, cy = customers
    to_offers, to_arrivals = campaign_to(offers, "Offers"), campaign_to(arrivals, "Arrivals")

    preview = preview_campaign(campaign=to_offers)
    assert (preview.total, preview.eligible) == (3, 1)
    assert preview.ineligible == {"topic_opted_out": 1, "topic_no_consent": 1}
    assert ["Not eligible", "Turned Offers off", 1] in audience_table(preview, offers)["rows"]
    assert ["Not eligible", "Never chose Offers", 1] in audience_table(preview, offers)["rows"]
    assert preview_campaign(campaign=to_arrivals).eligible == 2

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=to_offers)
        launch_campaign(campaign=to_arrivals)

    assert list(to_offers.messages.values_list("contact__name", flat=True)) == ["Bo"]
    assert message_for(to_offers, bo).status == MessageStatus.SENT
    assert sorted(to_arrivals.messages.values_list("contact__name", "status")) == [
        ("Ada", MessageStatus.SENT),
        ("Bo", MessageStatus.SENT),
    ]
    assert (sent_to(ada), sent_to(bo), sent_to(cy)) == (1, 2, 0)


def test_a_topic_turned_off_after_the_message_was_queued_holds_it_at_send_time(
    customers, offers, whatsapp, django_capture_on_commit_callbacks
):
    # given Bo and Di chose Offers, their messages in one batch (in no promised order)
    _, bo, _ = customers
    di = make_contact("opted_in", name="Di")
    answer_topic(di, offers, Action.GRANT)
    people = {bo.pk: bo, di.pk: di}
    to_offers = campaign_to(offers, "Offers")
    gone_first = []

    # the other one turns Offers off while the first message is being sent
    def the_other_turns_offers_off(row):
        if not gone_first:
            gone_first.append(people[row.contact_id])
            (other,) = (c for pk, c in people.items() if pk != row.contact_id)
            answer_topic(other, offers, Action.WITHDRAW)

    whatsapp.before_send = the_other_turns_offers_off

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=to_offers)

    # then the check made just before the second send holds it
    (first,) = gone_first
    (second,) = (c for c in people.values() if c != first)
    held = message_for(to_offers, second)
    assert (held.status, held.skip_reason) == (MessageStatus.SKIPPED, "topic_opted_out")
    assert (sent_to(first), sent_to(second)) == (1, 0)


def test_the_preview_counts_a_merged_duplicate_by_its_survivors_topic(customers, offers):
    _, bo, _ = customers
    make_contact("opted_in", name="Bo again", merged_into=bo)

    preview = preview_campaign(campaign=campaign_to(offers, "Offers"))

    assert preview.eligible == 2


def test_the_form_refuses_a_topic_of_another_purpose(admin_client, offers, arrivals):
    TemplateFactory(name="order_update", language="en_US")
    add = reverse("admin:campaigns_campaign_add")

    offered = admin_client.get(add).context["adminform"].form.fields["topic"]
    response = admin_client.post(add, form_data(topic=offers.pk))

    assert {t.key for t in offered.queryset} == {"offers", "new_arrivals"}
    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["topic"]
    assert "Offers is a topic of Marketing" in error


def test_a_retired_topic_is_not_offered(admin_client, offers, arrivals):
    Topic.objects.filter(pk=offers.pk).update(retired_at=offers.created_at)

    offered = admin_client.get(reverse("admin:campaigns_campaign_add"))
    keys = {t.key for t in offered.context["adminform"].form.fields["topic"].queryset}

    assert keys == {"new_arrivals"}


def test_the_api_names_the_campaigns_topic(offers):
    cache.clear()
    campaign = campaign_to(offers, "Offers")

    body = client_with_key("campaigns:read").get(f"/api/v1/campaigns/{campaign.pk}/").json()

    assert body["topic"] == "offers"


def test_the_launched_campaigns_page_names_its_topic(
    admin_client, customers, offers, whatsapp, django_capture_on_commit_callbacks
):
    campaign = campaign_to(offers, "Offers")
    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=campaign)

    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    assert "Offers: only those who chose it" in page.content.decode()


def test_the_preview_page_says_why_in_words(admin_client, customers, offers):
    campaign = campaign_to(offers, "Offers")

    page = admin_client.get(reverse("admin:campaigns_campaign_preview", args=[campaign.pk]))

    assert (
        "every recipient needs marketing consent and to have chosen Offers" in page.context["lead"]
    )
    assert ["Not eligible", "Turned Offers off", 1] in page.context["audience_table"]["rows"]


def test_the_preview_counts_every_pair_of_answers_as_may_send_topic_decides_one(offers):
    # Every purpose status beside every topic status (or none): the SQL and the one rule agree.
    later = timezone.now() + timedelta(days=30)
    people = []
    for purpose_status in [*Status.values, None]:
        for topic_status in [*Status.values, None]:
            person = ContactFactory()
            if purpose_status:
                ConsentState.objects.create(
                    contact=person, purpose="marketing", status=purpose_status, expires_at=later
                )
            if topic_status:
                TopicState.objects.create(contact=person, topic=offers, status=topic_status)
            people.append(person)

    preview = preview_campaign(campaign=campaign_to(offers, "Offers"))

    decisions = [may_send_topic(p, offers) for p in people]
    assert preview.eligible_reasons == dict(Counter(d.reason for d in decisions if d.allowed))
    assert preview.ineligible == dict(Counter(d.reason for d in decisions if not d.allowed))
