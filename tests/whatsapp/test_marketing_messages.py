"""Marketing templates through the Marketing Messages API, per number, by latest category.

A fake Graph API records `/messages` and `/marketing_messages` calls apart. Both go
through the same outbox; the error codes keep their outcomes on either endpoint.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.models import ConsentEvent
from tests.consent_helpers import record
from tests.factories import TemplateFactory
from whatsapp import delivery, outbox, routing
from whatsapp.addressing import whatsapp_address
from whatsapp.models import OutboundMessage, SendingNumber

pytestmark = pytest.mark.django_db

NUMBER = "106540352242922"


@pytest.fixture
def marketing_number(graph, settings):
    settings.WHATSAPP_MARKETING_TTL_SECONDS = 43200
    routing._enabled.clear()
    return SendingNumber.objects.create(phone_number_id=NUMBER, marketing_messages_api=True)


@pytest.fixture
def ada_opted_in(ada, notices):
    record(ada, "grant", "marketing", at=timezone.now() - timedelta(days=1))
    record(ada, "grant", "service", at=timezone.now() - timedelta(days=1))
    return ada


def template_to(contact, name: str, purpose: str) -> OutboundMessage:
    address = whatsapp_address(phone=contact.phone, wa_id=contact.wa_id)
    return outbox.enqueue_template(
        address=address, name=name, language="en_US", contact_id=contact.pk, purpose=purpose
    )


def test_a_marketing_template_goes_to_marketing_messages_with_its_ttl(
    graph, marketing_number, ada_opted_in
):
    TemplateFactory(name="spring_sale", category="MARKETING")
    row = template_to(ada_opted_in, "spring_sale", "marketing")

    delivery.deliver([row.pk])

    [call] = graph.marketing_calls()
    assert call.path == f"/v23.0/{NUMBER}/marketing_messages"
    assert call.json["message_send_ttl_seconds"] == 43200
    assert call.json["template"]["name"] == "spring_sale"
    row.refresh_from_db()
    assert row.status == OutboundMessage.Status.ACCEPTED


def test_a_utility_template_goes_to_messages(graph, marketing_number, ada_opted_in):
    TemplateFactory(name="order_update", category="UTILITY")
    row = template_to(ada_opted_in, "order_update", "service")

    delivery.deliver([row.pk])

    assert graph.marketing_calls() == []
    assert [c.path for c in graph.message_calls()] == [f"/v23.0/{NUMBER}/messages"]


def test_the_latest_category_routes_not_the_purpose_it_was_queued_with(
    graph, marketing_number, ada_opted_in
):
    # queued as a service message; re-categorised as marketing before it left
    TemplateFactory(name="order_update", category="MARKETING")
    row = template_to(ada_opted_in, "order_update", "service")

    delivery.deliver([row.pk])

    assert len(graph.marketing_calls()) == 1
    row.refresh_from_db()
    assert row.purpose == "marketing"


def test_a_number_without_the_api_sends_marketing_to_messages(graph, ada_opted_in):
    routing._enabled.clear()
    SendingNumber.objects.create(phone_number_id=NUMBER, marketing_messages_api=False)
    TemplateFactory(name="spring_sale", category="MARKETING")
    row = template_to(ada_opted_in, "spring_sale", "marketing")

    delivery.deliver([row.pk])

    assert graph.marketing_calls() == []
    assert len(graph.message_calls()) == 1


def test_131050_on_marketing_messages_records_the_stop(graph, marketing_number, ada_opted_in):
    TemplateFactory(name="spring_sale", category="MARKETING")
    graph.error(131050, message="Unable to deliver the message: user stopped marketing")
    row = template_to(ada_opted_in, "spring_sale", "marketing")

    delivery.deliver([row.pk])

    row.refresh_from_db()
    assert (row.status, row.error_code) == (OutboundMessage.Status.FAILED, 131050)
    stop = ConsentEvent.objects.get(contact=ada_opted_in, action="withdraw")
    assert (stop.source, stop.context["sending_number"]) == ("whatsapp_platform", NUMBER)


@pytest.mark.parametrize(
    ("code", "status", "outcome"),
    [
        (131049, 400, "queued"),  # per-user marketing limit: a day later
        (131062, 400, "failed"),  # a template type that cannot go to a BSUID
        (130429, 429, "queued"),  # throughput: after Retry-After
    ],
)
def test_error_codes_keep_their_outcome_on_marketing_messages(
    graph, marketing_number, ada_opted_in, code, status, outcome
):
    TemplateFactory(name="spring_sale", category="MARKETING")
    graph.error(code, status=status, retry_after=1 if status == 429 else None)
    row = template_to(ada_opted_in, "spring_sale", "marketing")

    delivery.deliver([row.pk])

    row.refresh_from_db()
    assert row.status == outcome
    assert len(graph.marketing_calls()) == 1
