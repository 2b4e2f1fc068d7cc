"""Races the database closes: concurrent retries and upserts (PostgreSQL)."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from api.scopes import SCOPES
from consent.models import ConsentEvent
from contacts.models import Contact
from tests.api.conftest import client_with_key

WITHDRAW = {"phone": "+447911123456", "purpose": "marketing", "action": "withdraw"}


@pytest.mark.postgres
def test_concurrent_retries_record_once(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises every writer, so there is no race")
    client = client_with_key(*SCOPES)

    def send(_):
        try:
            return client.post(
                "/api/v1/consent-events/", WITHDRAW, format="json", HTTP_IDEMPOTENCY_KEY="race"
            ).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(send, range(6)))

    assert ConsentEvent.objects.count() == 1
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}


@pytest.mark.postgres
def test_concurrent_retries_wait_for_the_first_and_get_its_answer(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises every writer, so there is no race")
    client = client_with_key(*SCOPES)

    def send(_):
        try:
            return client.post(
                "/api/v1/consent-events/", WITHDRAW, format="json", HTTP_IDEMPOTENCY_KEY="race"
            )
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(send, range(6)))

    # the claim commits with the answer: a retry waits on it, then replays it
    assert [r.status_code for r in responses] == [201] * 6
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum("Idempotent-Replayed" not in r for r in responses) == 1
    assert ConsentEvent.objects.count() == 1


@pytest.mark.postgres
def test_concurrent_upserts_of_a_new_phone_make_one_contact(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises every writer, so there is no race")
    client = client_with_key(*SCOPES)

    def send(_):
        try:
            return client.post(
                "/api/v1/contacts/", {"phone": "+447911123456"}, format="json"
            ).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(send, range(6)))

    assert Contact.objects.count() == 1
    assert sorted(statuses) == [200] * 5 + [201]
