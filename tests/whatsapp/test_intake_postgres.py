"""Intake on PostgreSQL: every item of a delivery in one statement, and when the database
refuses one of them, each in its own savepoint, so the refused one never keeps the STOP
beside it out."""

import pytest
from django.db import connection

from tests.whatsapp.helpers import encode, with_message
from whatsapp import services
from whatsapp.models import InboundEvent, WebhookDelivery
from whatsapp.parsing import Item

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement intake is PostgreSQL's; SQLite stores item by item")


def test_a_delivery_of_several_items_is_stored_at_once_and_again_adds_nothing():
    body = encode(with_message("text_stop"))

    first = services.store_delivery(body=body)
    again = services.store_delivery(body=body)

    assert len(first.new_ids) == 1
    assert again.new_ids == []
    assert InboundEvent.objects.count() == 1
    assert WebhookDelivery.objects.count() == 2  # every delivery's raw body is kept


def test_an_item_the_database_refuses_never_keeps_the_stop_beside_it_out(monkeypatch):
    split = services.split_delivery

    def with_an_unstorable_neighbour(data):
        # PostgreSQL refuses NUL in text: the whole one-statement insert fails.
        return [*split(data), Item("other", "refused\x00key", "wamid.\x00", {})]

    monkeypatch.setattr(services, "split_delivery", with_an_unstorable_neighbour)

    stored = services.store_delivery(body=encode(with_message("text_stop")))

    stop = InboundEvent.objects.get(kind=InboundEvent.Kind.MESSAGE)
    assert stored.new_ids == [stop.pk]  # the STOP goes on to be processed
    assert stop.state == InboundEvent.State.RECEIVED and stop.delivery_id == stored.delivery_id
    # The refused item keeps its place, failed and listed as a possible opt-out.
    refused = InboundEvent.objects.get(kind=InboundEvent.Kind.MALFORMED)
    assert refused.carries_opt_out and refused.state == InboundEvent.State.FAILED
    assert refused.error.startswith("refused by the database")
