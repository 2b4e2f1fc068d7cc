"""A campaign goes out from the business number staff pick (default: the business
default): its preview and its send-time gate ask the stop scope for that number, and the
Graph API is called on that number's id.

Ada opted in, then stopped marketing through number A (the event names A, as a
`user_preferences` stop does). Scope `number`: a campaign from B counts her and sends to
her, from B; scope `business`: it does neither.
"""

import pytest
from django.urls import reverse

from campaigns.forms import CampaignForm
from campaigns.models import Campaign, CampaignKind
from campaigns.selectors import preview_campaign
from campaigns.services import launch_campaign
from consent.services import Evidence
from tests.campaigns.conftest import make_contact, message_for
from tests.consent_helpers import record
from tests.whatsapp.conftest import use_fake_graph
from tests.whatsapp.fake_graph import FakeGraph
from whatsapp.models import OutboundMessage, SendingNumber

pytestmark = pytest.mark.django_db

A, B = "106540352242922", "209876543210987"


@pytest.fixture
def graph(settings):
    fake = FakeGraph().start()
    use_fake_graph(settings, fake, phone_number_id=A)
    yield fake
    fake.stop()


@pytest.fixture
def numbers(db):
    return (
        SendingNumber.objects.create(phone_number_id=A, label="Shop", brand="Acme"),
        SendingNumber.objects.create(
            phone_number_id=B,
            label="Outlet",
            brand="Acme Outlet",
            display_phone_number="15550783881",
        ),
    )


@pytest.fixture
def ada_stopped_on_a(db):
    ada = make_contact("opted_in", phone="+447911123456", wa_id="447911123456")
    record(ada, "withdraw", evidence=Evidence(context={"sending_number": A}))
    return ada


def campaign_from(number: SendingNumber | None) -> Campaign:
    return Campaign.objects.create(
        name="Winter sale",
        kind=CampaignKind.MARKETING,
        purpose="marketing",
        template_name="winter_sale",
        template_language="en",
        sending_number=number,
    )


def test_the_form_offers_the_business_numbers_and_starts_on_the_default(graph, numbers):
    form = CampaignForm()

    choices = [label for _, label in form.fields["sending_number"].choices]
    assert choices == [
        f"The business default ({A})",
        f"Outlet (Acme Outlet) · +15550783881 · {B}",
        f"Shop (Acme) · {A}",
    ]
    assert form.initial["sending_number"] == numbers[0].pk


@pytest.mark.parametrize(("scope", "counted"), [("number", True), ("business", False)])
def test_the_preview_asks_for_the_campaigns_number(
    settings, numbers, ada_stopped_on_a, scope, counted
):
    settings.CONSENT_STOP_SCOPE = scope
    make_contact("opted_in")

    from_b = preview_campaign(campaign=campaign_from(numbers[1]))
    from_a = preview_campaign(campaign=campaign_from(numbers[0]))

    assert from_b.eligible == (2 if counted else 1)
    assert from_b.ineligible == ({} if counted else {"opted_out": 1})
    assert (from_a.eligible, from_a.ineligible) == (1, {"opted_out": 1})


def test_scope_number_a_campaign_from_b_reaches_her_from_b(
    settings, graph, numbers, ada_stopped_on_a, django_capture_on_commit_callbacks
):
    settings.CONSENT_STOP_SCOPE = "number"
    campaign = campaign_from(numbers[1])

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=campaign)

    row = OutboundMessage.objects.get(contact_id=ada_stopped_on_a.pk)
    assert (row.phone_number_id, row.status) == (B, "accepted")
    assert [c.path for c in graph.message_calls()] == [f"/v23.0/{B}/messages"]
    assert message_for(campaign, ada_stopped_on_a).status == "sent"


def test_scope_business_a_campaign_from_b_skips_her(
    settings, graph, numbers, ada_stopped_on_a, django_capture_on_commit_callbacks
):
    settings.CONSENT_STOP_SCOPE = "business"
    campaign = campaign_from(numbers[1])

    with django_capture_on_commit_callbacks(execute=True):
        launch_campaign(campaign=campaign)

    assert graph.message_calls() == []
    message = message_for(campaign, ada_stopped_on_a)
    assert (message.status, message.skip_reason) == ("skipped", "opted_out")


def test_the_campaign_page_shows_the_number(admin_client, numbers):
    campaign = campaign_from(numbers[1])
    Campaign.objects.filter(pk=campaign.pk).update(status="done")

    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    assert f"Outlet (Acme Outlet) · +15550783881 · {B}" in page.content.decode()
