"""GET /api/v1/templates/: the registry, with each template's history (scope campaigns:read)."""

import pytest

from tests.factories import TemplateFactory
from whatsapp.models import SendingNumber, TemplateChange

pytestmark = pytest.mark.django_db


def test_the_registry_lists_templates_with_their_history_and_numbers(make_client):
    template = TemplateFactory(category="MARKETING")
    TemplateChange.objects.create(
        template=template, field="category", before="UTILITY", after="MARKETING", source="sync"
    )
    SendingNumber.objects.create(phone_number_id="106540352242922", waba_id=template.waba_id)
    client = make_client("campaigns:read")

    response = client.get("/api/v1/templates/")

    assert response.status_code == 200
    [row] = response.json()["results"]
    assert {k: row[k] for k in ("name", "language", "category", "status", "purpose")} == {
        "name": "order_update",
        "language": "en_US",
        "category": "MARKETING",
        "status": "APPROVED",
        "purpose": "marketing",
    }
    assert row["sending_numbers"] == ["106540352242922"]
    [change] = row["history"]
    assert (change["field"], change["from"], change["to"]) == ("category", "UTILITY", "MARKETING")


def test_the_registry_filters_by_category_and_status(make_client):
    TemplateFactory(name="order_update")
    TemplateFactory(name="spring_sale", category="MARKETING", status="PAUSED")
    client = make_client("campaigns:read")

    names = [r["name"] for r in client.get("/api/v1/templates/?status=PAUSED").json()["results"]]
    assert names == ["spring_sale"]
    names = [r["name"] for r in client.get("/api/v1/templates/?category=UTILITY").json()["results"]]
    assert names == ["order_update"]


def test_the_registry_needs_the_campaigns_read_scope(make_client):
    assert make_client("consent:read").get("/api/v1/templates/").status_code == 403
