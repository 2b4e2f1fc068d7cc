"""Staff are told on the dashboard when a template's category changes under a campaign:
"Template order_update (en_US) became MARKETING on <date>: campaign Order updates
paused", until they dismiss it or handle the campaign (the campaign page says why it
paused). The webhook is Meta's reference body (template_fixtures/ORIGINS.md), signed."""

import pytest
from django.urls import reverse
from django.utils import dateformat, timezone

from campaigns.models import Campaign, CampaignKind, CampaignStatus, TemplateChangeNotice
from campaigns.template_changes import resume_campaign
from staff.models import AuditEntry
from tests.campaigns.test_template_changes import (
    client_page,
    fixture,
    handed_to_outbox,
    person,
)
from tests.factories import TemplateFactory
from tests.whatsapp.helpers import SECRET, post_webhook

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _signed_webhooks(settings):
    settings.WHATSAPP_APP_SECRET = SECRET
    settings.WHATSAPP_VERIFY_TOKEN = "test-verify-token"
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = "102290129340398"


def dashboard(client) -> str:
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return response.content.decode()


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


@pytest.fixture
def paused_by_recategorisation(order_updates, whatsapp, client, django_capture_on_commit_callbacks):
    person("service", "marketing")
    person("service")
    handed_to_outbox(order_updates)
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(client, fixture("template_category_update_done"))
    order_updates.refresh_from_db()
    assert order_updates.status == CampaignStatus.PAUSED
    return order_updates


def test_the_dashboard_says_which_template_changed_and_which_campaign_paused(
    paused_by_recategorisation, admin_client, admin_user
):
    today = dateformat.format(timezone.localdate(), "j M Y")

    html = dashboard(admin_client)

    assert (
        f"Template order_update (en_US) became MARKETING on {today}: campaign" in html
        and ">Order updates</a> paused." in html
    )
    assert "Paused by its template" in client_page(admin_user, paused_by_recategorisation)


def test_dismissed_it_goes_and_the_dismissal_is_audited(
    paused_by_recategorisation, admin_client, admin_user
):
    notice = TemplateChangeNotice.objects.get()

    response = admin_client.post(
        reverse("admin:campaigns_templatechangenotice_dismiss", args=[notice.pk])
    )

    assert response.status_code == 302
    assert "became MARKETING" not in dashboard(admin_client)
    entry = AuditEntry.objects.get(action="dismiss_template_notice")
    assert entry.actor_user == admin_user


def test_it_goes_once_the_campaign_is_handled(
    paused_by_recategorisation, admin_client, admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        resume_campaign(campaign=paused_by_recategorisation, actor=admin_user)

    assert "became MARKETING" not in dashboard(admin_client)


def test_staff_who_may_not_see_campaigns_are_not_shown_it(
    paused_by_recategorisation, client, django_user_model
):
    viewer = django_user_model.objects.create_user("vic", password="pw", is_staff=True)
    client.force_login(viewer)

    assert "became MARKETING" not in dashboard(client)
