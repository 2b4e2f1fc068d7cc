"""Sender numbers as scope: what the platform says about each number, and which number a
consent signal came through (kept in the chained event, shown in the proof).

Payloads: Meta's `phone_number_quality_update` example (template_fixtures/ORIGINS.md) and
`fixtures/user_preferences_stop.json` (Meta's user_preferences reference, see ORIGINS.md).
"""

import json
from pathlib import Path

import pytest

from consent.models import ConsentEvent
from consent.proof import proof_bundle
from tests.whatsapp.helpers import ADA_WA_ID
from whatsapp.models import SendingNumber

pytestmark = pytest.mark.django_db

HERE = Path(__file__).parent


def load(path: str) -> dict:
    return json.loads((HERE / path).read_text())


def test_a_quality_update_records_the_numbers_event_and_limit(deliver):
    number = SendingNumber.objects.create(
        phone_number_id="106540352242922",
        label="Shop UK",
        brand="Demo Shop",
        waba_id="102290129340398",
        display_phone_number="15550783881",
    )

    response = deliver(load("template_fixtures/phone_number_quality_update.json"))

    assert response.status_code == 200
    number.refresh_from_db()
    assert (number.quality, number.messaging_limit_tier) == ("THROUGHPUT_UPGRADE", "TIER_UNLIMITED")
    assert number.platform_updated_at is not None


def test_a_quality_update_for_a_number_we_do_not_send_from_is_stored_and_ignored(deliver):
    from whatsapp.models import InboundEvent

    deliver(load("template_fixtures/phone_number_quality_update.json"))

    assert InboundEvent.objects.get().state == InboundEvent.State.PROCESSED


def test_a_stop_records_the_business_number_it_came_through(deliver, ada):
    deliver(load("fixtures/user_preferences_stop.json"))

    event = ConsentEvent.objects.get(contact=ada, action="withdraw")
    assert event.context["sending_number"] == "106540352242922"
    # In the chained fields: the proof bundle carries it, and a change would break the chain.
    [proved] = [e for e in proof_bundle(ada)["events"] if e["fields"]["id"] == str(event.pk)]
    assert proved["fields"]["context"]["sending_number"] == "106540352242922"
    assert ada.wa_id == ADA_WA_ID


def test_the_admin_lists_numbers_with_brand_quality_and_tier(admin_client):
    from django.urls import reverse

    SendingNumber.objects.create(
        phone_number_id="106540352242922", brand="Demo Shop", quality="FLAGGED"
    )

    page = admin_client.get(reverse("admin:whatsapp_sendingnumber_changelist"))

    assert page.status_code == 200
    assert b"Demo Shop" in page.content and b"FLAGGED" in page.content
