"""Intake on PostgreSQL: a delivery's raw body and every item in one statement, and when
the database refuses one of them, the raw body first and each item in its own savepoint,
so the refused one never keeps the STOP beside it out.

Outside a test transaction, as the webhook view runs (inside a caller's transaction the
one statement runs in a savepoint)."""

import pytest
from django.db import connection, transaction

from tests.whatsapp.helpers import encode, with_message
from whatsapp import services
from whatsapp.models import InboundEvent, WebhookDelivery
from whatsapp.parsing import Item

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


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
    stored = InboundEvent.objects.get()
    assert stored.delivery_id == first.delivery_id and stored.state == InboundEvent.State.RECEIVED
    assert bytes(WebhookDelivery.objects.get(pk=first.delivery_id).body) == body
    assert InboundEvent.objects.count() == 1
    assert WebhookDelivery.objects.count() == 2  # every delivery's raw body is kept


def test_an_item_the_database_refuses_never_keeps_the_stop_beside_it_out(monkeypatch):
    split = services.split_delivery

    def with_an_unstorable_neighbour(data):
        # PostgreSQL refuses NUL in text: the whole one-statement insert fails.
        return [*split(data), Item("other", "refused\x00key", "wamid.\x00", {})]

    monkeypatch.setattr(services, "split_delivery", with_an_unstorable_neighbour)

    stored = services.store_delivery(body=encode(with_message("text_stop")))

    # The failed statement wrote nothing: the careful path kept the raw body once.
    assert WebhookDelivery.objects.get().pk == stored.delivery_id
    stop = InboundEvent.objects.get(kind=InboundEvent.Kind.MESSAGE)
    assert stored.new_ids == [stop.pk]  # the STOP goes on to be processed
    assert stop.state == InboundEvent.State.RECEIVED and stop.delivery_id == stored.delivery_id
    # The refused item keeps its place, failed and listed as a possible opt-out.
    refused = InboundEvent.objects.get(kind=InboundEvent.Kind.MALFORMED)
    assert refused.carries_opt_out and refused.state == InboundEvent.State.FAILED
    assert refused.error.startswith("refused by the database")


def test_a_body_that_does_not_read_is_kept_as_malformed_and_listed():
    stored = services.store_delivery(body=b'{"entry": [')

    assert stored.malformed and stored.new_ids == []
    delivery = WebhookDelivery.objects.get(pk=stored.delivery_id)
    assert delivery.state == WebhookDelivery.State.MALFORMED
    assert bytes(delivery.body) == b'{"entry": ['
    listed = InboundEvent.objects.get(delivery=delivery)
    assert listed.kind == InboundEvent.Kind.MALFORMED and listed.carries_opt_out


def test_a_delivery_that_splits_into_no_items_keeps_its_raw_body_alone(monkeypatch):
    # Every readable shape splits into one item at least (an `other` one); should one ever
    # split into none, the same one statement keeps the raw body.
    monkeypatch.setattr(services, "split_delivery", lambda data: [])
    body = encode(with_message("text_stop"))

    stored = services.store_delivery(body=body)

    assert not stored.malformed and stored.new_ids == []
    delivery = WebhookDelivery.objects.get()
    assert (delivery.pk, bytes(delivery.body)) == (stored.delivery_id, body)
    assert delivery.state == WebhookDelivery.State.SPLIT
    assert not InboundEvent.objects.exists()


def test_inside_a_callers_transaction_a_refused_value_leaves_that_transaction_usable(
    monkeypatch,
):
    split = services.split_delivery
    monkeypatch.setattr(
        services, "split_delivery", lambda data: [*split(data), Item("other", "x\x00", "", {})]
    )

    with transaction.atomic():
        stored = services.store_delivery(body=encode(with_message("text_stop")))
        assert InboundEvent.objects.filter(pk__in=stored.new_ids).count() == 1

    assert InboundEvent.objects.get(kind=InboundEvent.Kind.MESSAGE).pk in stored.new_ids
    assert WebhookDelivery.objects.get().pk == stored.delivery_id
