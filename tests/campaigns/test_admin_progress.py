"""A campaign's progress drawn and refreshed, and re-consent audiences that ask the right people."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from campaigns.models import Campaign, CampaignKind, CampaignStatus, Message, MessageStatus
from campaigns.selectors import campaign_audience
from consent.rules import Purpose
from tests.campaigns.conftest import client_for, make_contact

pytestmark = pytest.mark.django_db


def progress_url(campaign: Campaign) -> str:
    return reverse("admin:campaigns_campaign_progress", args=[campaign.pk])


def reconsent(**kwargs) -> Campaign:
    return Campaign.objects.create(
        name="Re-consent 2026", kind=CampaignKind.RECONSENT, purpose=Purpose.MARKETING, **kwargs
    )


def test_progress_answers_counts_per_status_and_whether_it_is_still_live(admin_client, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
    for status in [MessageStatus.SENT, MessageStatus.QUEUED, MessageStatus.SKIPPED]:
        Message.objects.create(campaign=campaign, contact=make_contact(), status=status)

    body = admin_client.get(progress_url(campaign)).json()

    assert body["live"] is True
    assert (body["total"], body["done"]) == (3, 2)
    assert body["counts"]["sent"] == 1 and body["counts"]["queued"] == 1
    assert body["order"][0] == "read"


def test_progress_of_a_finished_campaign_is_not_live(admin_client, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.DONE)
    assert admin_client.get(progress_url(campaign)).json()["live"] is False


def test_progress_needs_the_view_permission(campaign):
    nobody = get_user_model().objects.create_user("nobody", password="pw", is_staff=True)
    assert client_for(nobody).get(progress_url(campaign)).status_code == 403


def test_progress_of_an_unknown_campaign_is_404(admin_client):
    url = reverse(
        "admin:campaigns_campaign_progress", args=["00000000-0000-0000-0000-000000000000"]
    )
    assert admin_client.get(url).status_code == 404


def test_a_launched_campaign_page_draws_its_progress_and_asks_for_updates(admin_client, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
    Message.objects.create(campaign=campaign, contact=make_contact(), status=MessageStatus.SENT)

    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    assert f'data-progress-url="{progress_url(campaign)}"'.encode() in page.content
    assert b'data-live="true"' in page.content
    assert b'<rect class="console-fill--sent" data-status="sent"' in page.content


def test_a_reconsent_campaign_with_no_state_ticked_asks_only_legacy_contacts():
    legacy = make_contact("legacy")
    make_contact("opted_in")
    make_contact("opted_out")

    assert list(campaign_audience(reconsent())) == [legacy]


def test_the_add_form_stores_the_legacy_default_for_a_reconsent_campaign(admin_client):
    response = admin_client.post(
        reverse("admin:campaigns_campaign_add"),
        {
            "name": "Ask again",
            "kind": "reconsent",
            "purpose": "marketing",
            "template_language": "en",
            "audience_attributes_text": "",
            "messages-TOTAL_FORMS": "0",
            "messages-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    assert Campaign.objects.get(name="Ask again").audience_states == ["legacy"]


def test_choosing_opted_in_contacts_for_a_reconsent_campaign_warns(admin_client):
    response = admin_client.post(
        reverse("admin:campaigns_campaign_add"),
        {
            "name": "Ask everyone",
            "kind": "reconsent",
            "purpose": "marketing",
            "template_language": "en",
            "audience_states": ["legacy", "opted_in"],
            "audience_attributes_text": "",
            "messages-TOTAL_FORMS": "0",
            "messages-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    assert b"includes opted-in contacts" in response.content
    campaign = Campaign.objects.get(name="Ask everyone")
    preview = admin_client.get(reverse("admin:campaigns_campaign_preview", args=[campaign.pk]))
    assert b"includes opted-in contacts" in preview.content
    assert b"one-tap re-consent request" in preview.content
    assert b"sends the template" not in preview.content


def test_parameters_must_be_filled_in_order(admin_client):
    response = admin_client.post(
        reverse("admin:campaigns_campaign_add"),
        {
            "name": "Gappy",
            "kind": "marketing",
            "purpose": "marketing",
            "template_name": "t",
            "template_language": "en",
            "body_params_text_0": "{name}",
            "body_params_text_2": "20%",
            "audience_attributes_text": "",
            "messages-TOTAL_FORMS": "0",
            "messages-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert b"Fill the parameters in order" in response.content
