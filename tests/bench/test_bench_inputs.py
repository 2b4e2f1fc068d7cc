"""The benchmarks measure real work: their inputs are what production receives."""

import json

import pytest

from bench.eligibility import phone_of
from bench.webhook import delivery, signed
from contacts.phones import normalize_phone
from whatsapp.models import InboundEvent


@pytest.mark.parametrize("index", [0, 1, 499_999, 999_999])
def test_loaded_phones_are_valid_e164(index):
    phone = phone_of(index)

    assert normalize_phone(phone) == phone


def test_each_generated_delivery_is_verified_and_stored_once(db, client, settings):
    # given ten deliveries covering text messages, reply buttons and status updates
    bodies = [
        json.dumps(delivery(index, "T", 1763640000), separators=(",", ":")).encode()
        for index in range(10)
    ]

    # when each is posted signed with the app secret
    for body in bodies:
        response = client.post(
            "/webhooks/whatsapp/",
            body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=signed(body, settings.WHATSAPP_APP_SECRET),
        )
        assert response.status_code == 200

    # then each one is one stored row of the expected kind
    kinds = sorted(InboundEvent.objects.values_list("kind", flat=True))
    assert kinds == ["message"] * 9 + ["status"]


@pytest.mark.urls("bench.urls")
def test_baseline_view_answers_without_the_database(db, client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.post("/bench/bare/", b"{}", content_type="application/json")

    assert response.status_code == 200
