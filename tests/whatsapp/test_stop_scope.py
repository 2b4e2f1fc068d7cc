"""The marketing stop per business number (CONSENT_STOP_SCOPE).

Ada opted in, then stopped marketing through number A (`user_preferences` stop, Meta's
reference payload in fixtures/, its metadata.phone_number_id = A). Scope `number`: B may
still send her marketing, and eligibility says so for B; scope `business`: neither may.
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.api.conftest import client_with_key
from tests.consent_helpers import record
from whatsapp import delivery, outbox
from whatsapp.addressing import whatsapp_address
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db

A, B = "106540352242922", "209876543210987"
PHONE = "+447911123456"


@pytest.fixture
def ada_stopped_on_a(deliver, ada, notices):
    # Opted in before the stop's own time (30 Nov 2026): the stop is the later answer.
    record(ada, "grant", at=datetime(2026, 11, 1, tzinfo=UTC))
    stop = json.loads((Path(__file__).parent / "fixtures/user_preferences_stop.json").read_text())
    assert stop["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] == A
    deliver(stop)
    return ada


def ask(number: str = "") -> dict:
    query = {"phone": PHONE, "purpose": "marketing"}
    if number:
        query["sending_number"] = number
    response = client_with_key("consent:read").get("/api/v1/eligibility/", query)
    assert response.status_code == 200, response.content
    return response.json()


def marketing_from(number: str, contact, settings) -> OutboundMessage:
    settings.WHATSAPP_PHONE_NUMBER_ID = number
    return outbox.enqueue_template(
        address=whatsapp_address(phone=contact.phone, wa_id=contact.wa_id),
        name="spring_sale",
        language="en",
        contact_id=contact.pk,
        purpose="marketing",
    )


def test_scope_number_a_stop_on_a_leaves_b_allowed(settings, graph, ada_stopped_on_a):
    settings.CONSENT_STOP_SCOPE = "number"

    assert (ask(B)["allowed"], ask(B)["reason"]) == (True, "opted_in")
    assert (ask(A)["allowed"], ask(A)["reason"]) == (False, "opted_out")
    assert ask()["reason"] == "opted_out"  # no number named: the strict answer
    bulk = client_with_key("consent:read").post(
        "/api/v1/eligibility/bulk/",
        {"purpose": "marketing", "phones": [PHONE], "sending_number": B},
        format="json",
    )
    assert bulk.json()["results"][0]["reason"] == "opted_in"

    from_a = marketing_from(A, ada_stopped_on_a, settings)
    from_b = marketing_from(B, ada_stopped_on_a, settings)
    delivery.deliver([from_a.pk, from_b.pk])

    from_a.refresh_from_db()
    from_b.refresh_from_db()
    assert (from_a.status, from_a.skip_reason) == ("skipped", "opted_out")
    assert from_b.status == "accepted"
    assert [c.path for c in graph.message_calls()] == [f"/v23.0/{B}/messages"]


def test_scope_business_the_same_stop_blocks_both(settings, graph, ada_stopped_on_a):
    settings.CONSENT_STOP_SCOPE = "business"

    assert ask(B)["reason"] == ask(A)["reason"] == "opted_out"

    rows = [marketing_from(n, ada_stopped_on_a, settings) for n in (A, B)]
    delivery.deliver([r.pk for r in rows])

    assert {r.status for r in OutboundMessage.objects.all()} == {"skipped"}
    assert graph.message_calls() == []


def test_a_stop_that_names_no_number_binds_every_number(settings, ada, notices):
    settings.CONSENT_STOP_SCOPE = "number"
    record(ada, "grant", at=timezone.now() - timedelta(days=1))
    record(ada, "withdraw", source="web_form")

    assert ask(B)["reason"] == "opted_out"
