"""Ten concurrent deliveries of one payload: the database lets exactly one through."""

import threading

import pytest
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from consent.models import ConsentEvent
from tests.whatsapp.helpers import post_webhook, with_message
from whatsapp.models import InboundEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("row-level concurrency is PostgreSQL's; set DATABASE_URL to a PostgreSQL db")


def test_ten_concurrent_duplicates_store_and_record_one_event(ada, notices):
    payload = with_message("text_stop", at=timezone.now())
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def deliver():
        try:
            barrier.wait()
            statuses.append(post_webhook(Client(), payload).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * 10
    assert InboundEvent.objects.count() == 1
    assert InboundEvent.objects.get().state == InboundEvent.State.PROCESSED
    assert ConsentEvent.objects.count() == 1


def test_ten_concurrent_statuses_of_one_message_store_one_row_each(ada):
    names = ["status_sent", "status_delivered", "status_read"] * 3 + ["status_sent"]
    barrier = threading.Barrier(len(names))

    def deliver(name):
        try:
            barrier.wait()
            post_webhook(Client(), with_message(name))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert InboundEvent.objects.count() == 3
