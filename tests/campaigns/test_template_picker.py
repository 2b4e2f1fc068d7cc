"""The campaign form picks a template from the registry: approved ones only, the languages
the registry has, parameters against the template's placeholders, the purpose its category
needs, and a preview of what a person will read."""

import pytest
from django.urls import reverse

from campaigns.models import Campaign
from tests.campaigns.conftest import make_contact
from tests.factories import TemplateFactory

pytestmark = pytest.mark.django_db

ADD = "admin:campaigns_campaign_add"


def form_data(**fields) -> dict:
    return {
        "name": "Spring",
        "kind": "service",
        "purpose": "service",
        "template_name": "order_update",
        "template_language": "en_US",
        "body_params_text_0": "{name}",
        "body_params_text_1": "A-42",
        "audience_attributes_text": "",
        "messages-TOTAL_FORMS": "0",
        "messages-INITIAL_FORMS": "0",
        **fields,
    }


@pytest.fixture
def registry(db):
    TemplateFactory(name="order_update", language="en_US")
    TemplateFactory(name="order_update", language="es")
    TemplateFactory(name="order_update", language="fr", status="REJECTED")
    TemplateFactory(name="spring_sale", language="en_US", category="MARKETING")
    TemplateFactory(name="old_sale", language="en_US", category="MARKETING", status="PAUSED")


def test_only_approved_templates_and_their_languages_are_offered(admin_client, registry):
    form = admin_client.get(reverse(ADD)).context["adminform"].form

    names = [value for value, _ in form.fields["template_name"].choices if value]
    assert names == ["order_update", "spring_sale"]
    languages = [value for value, _ in form.fields["template_language"].choices]
    assert "fr" not in languages
    assert {"en_US", "es"} <= set(languages)


def test_the_registry_gives_the_other_approved_languages(admin_client, registry):
    response = admin_client.post(reverse(ADD), form_data())

    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = Campaign.objects.get()
    assert (campaign.template_language, campaign.template_languages) == ("en_US", ["es"])


def test_a_template_not_approved_in_that_language_is_refused(admin_client, registry):
    response = admin_client.post(reverse(ADD), form_data(template_language="fr"))

    assert response.status_code == 200
    assert "template_language" in response.context["adminform"].form.errors


def test_the_parameters_must_match_the_templates_placeholders(admin_client, registry):
    response = admin_client.post(reverse(ADD), form_data(body_params_text_1=""))

    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["body_params_text"]
    assert "2 placeholder(s) ({{1}}, {{2}}); 1 given" in error


def test_a_marketing_template_needs_marketing_consent_whatever_was_picked(admin_client, registry):
    response = admin_client.post(
        reverse(ADD),
        form_data(template_name="spring_sale", purpose="service", body_params_text_1="B-7"),
    )

    assert response.status_code == 302
    assert Campaign.objects.get().purpose == "marketing"


def test_a_marketing_campaign_cannot_send_a_utility_template(admin_client, registry):
    response = admin_client.post(reverse(ADD), form_data(kind="marketing", purpose="marketing"))

    assert response.status_code == 200
    assert "template_name" in response.context["adminform"].form.errors


def test_the_preview_shows_what_a_person_will_read(admin_client, registry):
    admin_client.post(reverse(ADD), form_data())
    campaign = Campaign.objects.get()
    make_contact(name="Grace Hopper")

    page = admin_client.get(reverse("admin:campaigns_campaign_preview", args=[campaign.pk]))
    change = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    assert "Hi Grace Hopper, your order A-42 is on its way." in page.content.decode()
    assert "Hi Grace Hopper, your order A-42 is on its way." in change.content.decode()
    # The parameter boxes are the template's own, labelled with its examples.
    assert 'placeholder="e.g. Ada"' in change.content.decode()
