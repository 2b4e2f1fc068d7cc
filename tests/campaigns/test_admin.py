import pytest
from django.urls import reverse

from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from consent.labels import reason_label
from contacts.models import Tag
from tests.campaigns.conftest import client_for, make_contact
from tests.consent_helpers import record
from tests.factories import TemplateFactory
from whatsapp.message_templates import placeholders

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def registry(db):
    """The approved templates these campaigns pick, as a sync from WhatsApp leaves them."""
    for name, category, body in [
        ("vip_offer", "MARKETING", "Hi {{1}}, {{2}} off for you."),
        ("winter_sale", "MARKETING", "Hi {{1}}, the winter sale starts now."),
        ("order_update", "UTILITY", "Your order is on its way."),
    ]:
        components = [{"type": "BODY", "text": body}]
        TemplateFactory(
            name=name,
            language="en",
            category=category,
            components=components,
            parameters=placeholders(components),
        )


def preview_url(campaign: Campaign) -> str:
    return reverse("admin:campaigns_campaign_preview", args=[campaign.pk])


def test_changelist_shows_counts_per_status(admin_client, campaign):
    Message.objects.create(campaign=campaign, contact=make_contact(), status=MessageStatus.SENT)

    response = admin_client.get(reverse("admin:campaigns_campaign_changelist"))

    assert response.status_code == 200
    assert b"Winter sale" in response.content
    # Drawn as one bar per campaign, with the count of each status in its legend.
    assert b"column-progress" in response.content
    sent = response.content.split(b'console-legend--sent" data-status="sent">')[1]
    assert sent.startswith(b'<span class="console-swatch console-fill--sent"></span>Sent: ')
    assert sent.split(b"</strong>")[0].endswith(b'<strong data-role="count">1')


def test_add_page_builds_a_campaign_with_its_audience(admin_client):
    vip = Tag.objects.create(name="vip")
    assert admin_client.get(reverse("admin:campaigns_campaign_add")).status_code == 200

    response = admin_client.post(
        reverse("admin:campaigns_campaign_add"),
        {
            "name": "Leeds VIPs",
            "kind": "marketing",
            "purpose": "marketing",
            "template_name": "vip_offer",
            "template_language": "en",
            "body_params_text_0": "{name}",
            "body_params_text_1": "15%",
            "audience_tags": [vip.pk],
            "audience_attributes_text": "city=Leeds\ntier = gold",
            "audience_states": ["opted_in", "legacy"],
            "messages-TOTAL_FORMS": "0",
            "messages-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = Campaign.objects.get(name="Leeds VIPs")
    assert campaign.body_params == ["{name}", "15%"]
    assert campaign.audience_attributes == {"city": "Leeds", "tier": "gold"}
    assert campaign.audience_states == ["opted_in", "legacy"]
    assert list(campaign.audience_tags.all()) == [vip]
    assert campaign.created_by.username == "admin"
    assert campaign.status == CampaignStatus.DRAFT


def test_a_marketing_campaign_needs_marketing_consent_and_a_template(admin_client):
    response = admin_client.post(
        reverse("admin:campaigns_campaign_add"),
        {
            "name": "Wrong",
            "kind": "marketing",
            "purpose": "service",
            "template_name": "",
            "template_language": "en",
            "messages-TOTAL_FORMS": "0",
            "messages-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"purpose", "template_name"}


def test_preview_page_shows_eligible_and_ineligible_with_reasons(admin_client, campaign):
    make_contact("opted_in")
    make_contact("opted_out")
    make_contact("opted_out")

    response = admin_client.get(preview_url(campaign))

    assert response.status_code == 200
    assert response.context["preview"].eligible == 1
    assert response.context["preview"].ineligible == {"opted_out": 2}
    assert ["Not eligible", reason_label("opted_out"), 2] in response.context["audience_table"][
        "rows"
    ]
    assert b"Launch to 1 eligible contact" in response.content


def test_preview_action_opens_the_preview_page(admin_client, campaign):
    response = admin_client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "preview_selected", "_selected_action": [campaign.pk]},
    )

    assert response.status_code == 302
    assert response.url == preview_url(campaign)


def test_launch_from_the_preview_page_sends(
    admin_client, campaign, whatsapp, django_capture_on_commit_callbacks
):
    contact = make_contact("opted_in")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(preview_url(campaign))

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE
    assert campaign.launched_by.username == "admin"
    assert Message.objects.get(contact=contact).status == MessageStatus.SENT


def test_launch_action_by_marketing_staff(
    marketing_user, campaign, whatsapp, django_capture_on_commit_callbacks
):
    make_contact("opted_in")

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(marketing_user).post(
            reverse("admin:campaigns_campaign_changelist"),
            {"action": "launch_selected", "_selected_action": [campaign.pk]},
        )

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE


def test_staff_without_the_launch_permission_cannot_launch(outsider, campaign):
    client = client_for(outsider)

    page = client.get(preview_url(campaign))
    response = client.post(preview_url(campaign))

    assert page.status_code == 200
    assert b"Launch to" not in page.content
    assert response.status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_a_launched_campaign_is_read_only_with_its_messages_and_opt_outs(
    admin_client, campaign, whatsapp, django_capture_on_commit_callbacks
):
    # given a sent campaign whose recipient then opted out
    contact = make_contact("opted_in", name="Ada Lovelace")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(preview_url(campaign))
    Message.objects.filter(campaign=campaign).update(
        status=MessageStatus.DELIVERED, delivered_at=campaign.created_at
    )
    record(contact, "withdraw", source="whatsapp_keyword")

    # when
    response = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    # then
    assert response.status_code == 200
    progress = response.context["progress"]
    assert len(progress["opt_outs_table"]["rows"]) == 1
    assert b"last message delivered" in response.content
    assert b"Ada Lovelace" in response.content
    assert not response.context["has_change_permission"]


def test_message_and_reminder_lists_open(admin_client, campaign):
    Message.objects.create(campaign=campaign, contact=make_contact(), status=MessageStatus.SENT)

    assert admin_client.get(reverse("admin:campaigns_message_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:campaigns_remindersent_changelist")).status_code == 200


def test_search_finds_a_campaign_by_name(admin_client, campaign):
    response = admin_client.get(reverse("admin:campaigns_campaign_changelist"), {"q": "winter"})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [campaign]


def test_a_draft_can_be_edited_on_its_change_page(admin_client, campaign):
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert b"Preview and launch" in page.content

    response = admin_client.post(
        url,
        {
            "name": "Winter sale (final)",
            "kind": "marketing",
            "purpose": "marketing",
            "template_name": "winter_sale",
            "template_language": "en",
            "body_params_text_0": "{name}",
            "audience_attributes_text": "",
            "messages-TOTAL_FORMS": "0",
            "messages-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.name, campaign.body_params) == ("Winter sale (final)", ["{name}"])


def test_attribute_lines_must_be_key_value(admin_client):
    response = admin_client.post(
        reverse("admin:campaigns_campaign_add"),
        {
            "name": "Bad audience",
            "kind": "service",
            "purpose": "service",
            "template_name": "order_update",
            "template_language": "en",
            "audience_attributes_text": "just a city",
            "messages-TOTAL_FORMS": "0",
            "messages-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "audience_attributes_text" in response.context["adminform"].form.errors


def test_cancel_action_stops_a_campaign(admin_client, campaign):
    response = admin_client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "cancel_selected", "_selected_action": [campaign.pk]},
    )

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED
