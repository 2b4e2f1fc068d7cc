"""The purpose comes from the template's category at send time.

A utility template re-categorised as marketing mid-send: nobody without marketing consent
receives a message once the webhook is stored (even before its task runs), the campaign
pauses and says why, and staff resume it. A paused template stops its sends with one
reason on the campaign, not a failure per recipient. Webhook bodies: Meta's reference
and pywa's test data (tests/whatsapp/template_fixtures/ORIGINS.md), signed with HMAC.
"""

import json
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, CampaignKind, CampaignStatus, Message, MessageStatus
from campaigns.services import fan_out_campaign
from campaigns.template_changes import resume_campaign
from tests.campaigns.conftest import message_for, sent_to
from tests.consent_helpers import record
from tests.factories import ContactFactory, TemplateFactory
from tests.whatsapp.helpers import SECRET, post_webhook
from whatsapp import delivery
from whatsapp.models import InboundEvent, OutboundMessage, WhatsAppTemplate

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parents[1] / "whatsapp" / "template_fixtures"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture(autouse=True)
def _signed_webhooks(settings):
    settings.WHATSAPP_APP_SECRET = SECRET
    settings.WHATSAPP_VERIFY_TOKEN = "test-verify-token"
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = "102290129340398"


def person(*purposes: str):
    contact = ContactFactory()
    for purpose in purposes:
        record(contact, "grant", purpose)
    return contact


@pytest.fixture
def order_updates(db) -> Campaign:
    TemplateFactory(name="order_update", language="en_US", category="UTILITY")
    return Campaign.objects.create(
        name="Order updates",
        kind=CampaignKind.SERVICE,
        purpose="service",
        template_name="order_update",
        template_language="en_US",
        body_params=["{name}", "A-42"],
    )


def handed_to_outbox(campaign: Campaign) -> list[OutboundMessage]:
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.LAUNCHED, launched_at=timezone.now()
    )
    fan_out_campaign(campaign_id=campaign.pk)
    ids = list(
        Message.objects.filter(campaign=campaign).order_by("pk").values_list("pk", flat=True)
    )
    services.send_campaign_batch(
        campaign_id=campaign.pk, first_message_id=ids[0], last_message_id=ids[-1]
    )
    return list(OutboundMessage.objects.all())


def test_a_recategorised_template_reaches_nobody_without_marketing_consent(
    order_updates, whatsapp, client, admin_user, django_capture_on_commit_callbacks
):
    # given four people with service consent, two of them also with marketing consent
    first = person("service", "marketing")
    service_only = [person("service") for _ in range(2)]
    also_marketing = person("service", "marketing")
    rows = handed_to_outbox(order_updates)
    assert {row.purpose for row in rows} == {"service"}
    [first_row] = [row for row in rows if row.contact_id == first.pk]
    delivery.deliver([first_row.pk])  # the first one goes as a utility message
    assert sent_to(first) == 1

    # when the platform re-categorises the template: stored, its task not run yet
    response = post_webhook(client, fixture("template_category_update_done"))
    assert response.status_code == 200
    assert InboundEvent.objects.get(kind="template_update").state == "received"
    delivery.deliver([row.pk for row in rows if row != first_row])

    # then nothing more went, the campaign waits with the reason, nobody failed
    assert [sent_to(c) for c in [*service_only, also_marketing]] == [0, 0, 0]
    order_updates.refresh_from_db()
    assert order_updates.status == CampaignStatus.PAUSED
    assert order_updates.purpose == "marketing"
    assert "re-categorised UTILITY → MARKETING" in order_updates.paused_reason
    assert "2 of the 3 people still to receive it do not have marketing consent" in (
        order_updates.paused_reason
    )
    assert not Message.objects.filter(status=MessageStatus.FAILED).exists()
    assert WhatsAppTemplate.objects.get().category == "MARKETING"
    page = client_page(admin_user, order_updates)
    assert "Paused by its template" in page and "2 of the 3 people" in page

    # when staff resume: those with marketing consent get it, the others never do
    with django_capture_on_commit_callbacks(execute=True):
        assert resume_campaign(campaign=order_updates, actor=admin_user)
    assert sent_to(also_marketing) == 1
    assert [sent_to(c) for c in service_only] == [0, 0]
    assert {message_for(order_updates, c).skip_reason for c in service_only} == {"no_consent"}
    order_updates.refresh_from_db()
    assert order_updates.status == CampaignStatus.DONE


def client_page(user, campaign: Campaign) -> str:
    from django.test import Client

    browser = Client()
    browser.force_login(user)
    response = browser.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_recategorisation_that_changes_nobodys_answer_moves_the_purpose_and_goes_on(
    order_updates, whatsapp, client, django_capture_on_commit_callbacks
):
    people = [person("service", "marketing") for _ in range(2)]
    rows = handed_to_outbox(order_updates)

    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(client, fixture("template_category_update_done"))
    delivery.deliver([row.pk for row in rows])

    order_updates.refresh_from_db()
    assert (order_updates.status, order_updates.purpose) == (CampaignStatus.DONE, "marketing")
    assert "now need marketing consent" in order_updates.template_notice
    assert [sent_to(c) for c in people] == [1, 1]
    assert set(OutboundMessage.objects.values_list("purpose", flat=True)) == {"marketing"}


def test_a_paused_template_stops_the_campaign_with_one_reason_not_a_failure_each(
    order_updates, whatsapp, client, admin_user, django_capture_on_commit_callbacks
):
    people = [person("service") for _ in range(3)]
    rows = handed_to_outbox(order_updates)

    post_webhook(client, fixture("template_status_update_paused"))  # stored only
    delivery.deliver([row.pk for row in rows])

    assert [sent_to(c) for c in people] == [0, 0, 0]
    order_updates.refresh_from_db()
    assert order_updates.status == CampaignStatus.PAUSED
    assert "is now PAUSED on WhatsApp" in order_updates.paused_reason
    assert set(Message.objects.values_list("status", flat=True)) == {MessageStatus.SENDING}
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {"queued"}
    assert not OutboundMessage.objects.filter(parked_by="").exists()

    # approved again, then resumed by staff: each goes once
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(client, fixture("template_status_update_approved"))
    assert [sent_to(c) for c in people] == [0, 0, 0]  # the campaign still waits for staff
    with django_capture_on_commit_callbacks(execute=True):
        resume_campaign(campaign=order_updates, actor=admin_user)
    assert [sent_to(c) for c in people] == [1, 1, 1]


def test_a_template_paused_while_a_worker_holds_its_message_parks_it(order_updates, whatsapp):
    # A message outside any campaign (a reminder, say) with a template that is paused now.
    contact = person("service")
    row = handed_to_outbox(order_updates)[0]
    WhatsAppTemplate.objects.update(status="PAUSED")

    delivery.deliver([row.pk])

    row.refresh_from_db()
    assert (row.status, row.parked_by) == ("queued", "template:order_update:en_US")
    assert "is PAUSED" in row.error_title
    assert sent_to(contact) == 0


def test_staff_resume_from_the_campaign_page_and_outsiders_may_not(
    order_updates, whatsapp, client, marketing_user, outsider, django_capture_on_commit_callbacks
):
    from staff.models import AuditEntry
    from tests.campaigns.conftest import client_for

    person("service")
    handed_to_outbox(order_updates)
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(client, fixture("template_status_update_paused"))
    order_updates.refresh_from_db()
    assert order_updates.status == CampaignStatus.PAUSED
    url = reverse("admin:campaigns_campaign_resume", args=[order_updates.pk])

    assert client_for(outsider).post(url).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(marketing_user).post(url)

    assert response.status_code == 302
    order_updates.refresh_from_db()
    assert order_updates.status in (CampaignStatus.SENDING, CampaignStatus.DONE)
    assert AuditEntry.objects.filter(action="resume_campaign", actor_user=marketing_user).exists()
