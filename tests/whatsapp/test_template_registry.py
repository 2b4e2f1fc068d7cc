"""The template registry: synced from the Graph API's paged list, kept current by webhooks.

Webhook bodies are in `template_fixtures/` (sources in its ORIGINS.md: pywa's test
data and Meta's webhook reference pages), posted signed with the app secret.
"""

import copy
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.factories import TemplateFactory, template_listing_item
from tests.whatsapp.fake_graph import graph_error
from whatsapp.exceptions import RateLimited
from whatsapp.message_templates import purpose_of, render_body, sync_templates
from whatsapp.models import InboundEvent, TemplateChange, WhatsAppTemplate

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "template_fixtures"
WABA = "102290129340398"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture
def waba(settings):
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = WABA


# --- Sync ----------------------------------------------------------------------------


def test_a_sync_reads_every_page_of_the_platform_list(graph, waba):
    # given 250 templates, served 100 to a page
    graph.templates = [template_listing_item(f"offer_{n:03d}", n=n) for n in range(250)]

    result = sync_templates()

    assert (result.pages, result.created) == (3, 250)
    calls = graph.calls_to("GET", f"{WABA}/message_templates")
    assert len(calls) == 3
    assert all("limit=100" in c.query for c in calls)
    assert WhatsAppTemplate.objects.filter(waba_id=WABA, status="APPROVED").count() == 250


def test_a_synced_template_keeps_its_components_and_their_placeholders(graph, waba):
    graph.templates = [template_listing_item()]

    call_command("sync_templates")

    template = WhatsAppTemplate.objects.get(name="order_update", language="en_US")
    assert (template.category, template.status, template.quality) == (
        "UTILITY",
        "APPROVED",
        "GREEN",
    )
    assert template.parameters == [
        {"name": "1", "example": "Ada"},
        {"name": "2", "example": "A-42"},
    ]
    assert template.last_synced_at is not None
    assert render_body(template, ["Grace", "B-7"]) == "Hi Grace, your order B-7 is on its way."


def test_a_later_sync_keeps_each_change_as_history(graph, waba):
    graph.templates = [template_listing_item()]
    sync_templates()
    graph.templates = [template_listing_item(category="MARKETING", status="PAUSED")]

    result = sync_templates()

    assert result.updated == 1
    changes = list(
        TemplateChange.objects.filter(source="sync", before__gt="").values_list(
            "field", "before", "after"
        )
    )
    assert sorted(changes) == [
        ("category", "UTILITY", "MARKETING"),
        ("status", "APPROVED", "PAUSED"),
    ]


def test_a_template_the_platform_no_longer_lists_is_marked_deleted(graph, waba):
    graph.templates = [template_listing_item(), template_listing_item("old_offer", n=1)]
    sync_templates()
    graph.templates = [template_listing_item()]

    assert sync_templates().retired == 1
    assert WhatsAppTemplate.objects.get(name="old_offer").status == "DELETED"


def test_a_rate_limited_list_raises_with_the_platforms_retry_after(graph, waba):
    graph.templates = [template_listing_item()]
    graph.template_replies.append(
        (429, graph_error(80008, "Too many calls"), {"Retry-After": "30"})
    )

    with pytest.raises(RateLimited) as raised:
        sync_templates()

    assert raised.value.retry_after == 30
    assert not WhatsAppTemplate.objects.exists()
    assert sync_templates().created == 1  # the next run reads it all


def test_sync_without_a_waba_says_so(settings):
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = ""
    with pytest.raises(ValueError, match="WHATSAPP_BUSINESS_ACCOUNT_ID"):
        sync_templates()


def test_the_category_decides_the_purpose():
    assert purpose_of("MARKETING") == "marketing"
    assert purpose_of("UTILITY") == purpose_of("AUTHENTICATION") == "service"
    assert purpose_of("SOMETHING_NEW") is None


# --- Webhooks ----------------------------------------------------------------------------


def test_a_status_webhook_for_an_unsynced_template_creates_its_row(deliver):
    response = deliver(fixture("template_status_update_approved"))

    assert response.status_code == 200
    template = WhatsAppTemplate.objects.get()
    assert (template.waba_id, template.name, template.language, template.status) == (
        WABA,
        "order_update",
        "en_US",
        "APPROVED",
    )
    assert InboundEvent.objects.get().kind == "template_update"


def test_a_paused_template_is_recorded_with_its_reason_and_history(deliver):
    TemplateFactory()

    deliver(fixture("template_status_update_paused"))

    template = WhatsAppTemplate.objects.get()
    assert (template.status, template.rejected_reason) == ("PAUSED", "FIRST_PAUSE")
    change = TemplateChange.objects.get()
    assert (change.field, change.before, change.after, change.source) == (
        "status",
        "APPROVED",
        "PAUSED",
        "message_template_status_update",
    )


def test_an_impending_recategorisation_is_noted_without_changing_the_category(deliver):
    TemplateFactory()

    deliver(fixture("template_category_update_impending"))

    template = WhatsAppTemplate.objects.get()
    assert template.category == "UTILITY"
    assert template.upcoming_category == "MARKETING"
    assert template.upcoming_category_at is not None
    assert not TemplateChange.objects.exists()


def test_a_completed_recategorisation_changes_the_category(deliver):
    TemplateFactory()
    deliver(fixture("template_category_update_impending"))

    deliver(fixture("template_category_update_done"))

    template = WhatsAppTemplate.objects.get()
    assert (template.category, template.upcoming_category) == ("MARKETING", "")
    assert list(TemplateChange.objects.values_list("field", "before", "after")) == [
        ("category", "UTILITY", "MARKETING")
    ]


def test_a_quality_webhook_updates_the_quality(deliver):
    TemplateFactory()

    deliver(fixture("template_quality_update_yellow"))

    assert WhatsAppTemplate.objects.get().quality == "YELLOW"


def test_the_same_webhook_twice_is_stored_and_applied_once(deliver):
    TemplateFactory()
    payload = fixture("template_status_update_paused")

    deliver(payload)
    deliver(copy.deepcopy(payload))

    assert InboundEvent.objects.count() == 1
    assert TemplateChange.objects.count() == 1


def test_an_unsigned_template_webhook_changes_nothing(client):
    from tests.whatsapp.helpers import post_webhook

    TemplateFactory()
    response = post_webhook(client, fixture("template_status_update_paused"), signature=None)

    assert response.status_code == 403
    assert WhatsAppTemplate.objects.get().status == "APPROVED"


def test_staff_read_the_registry_and_its_history_in_the_admin(admin_client, deliver):
    from django.urls import reverse

    template = TemplateFactory()
    deliver(fixture("template_status_update_paused"))

    listing = admin_client.get(reverse("admin:whatsapp_whatsapptemplate_changelist"))
    page = admin_client.get(reverse("admin:whatsapp_whatsapptemplate_change", args=[template.pk]))

    assert listing.status_code == page.status_code == 200
    assert b"order_update" in listing.content
    assert b"FIRST_PAUSE" in page.content
    assert b"message_template_status_update" in page.content


def test_the_sync_task_without_a_waba_does_nothing(settings):
    from whatsapp.tasks import sync_message_templates

    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = ""
    assert sync_message_templates.apply().get() == {}
