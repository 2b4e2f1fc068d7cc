"""An Idempotency-Key never outlives a request that failed, the database's own loss included.

The production probe: PostgreSQL restarted while an opt-out was being recorded; the
request could not release its claim on the key, and every retry got 409
`idempotency_busy` for two minutes, so a client that takes 4xx as final lost the
opt-out. A 5xx while the database is gone is fine; the retry must then be processed.
"""

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest
from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from api.models import IdempotencyRecord
from consent import services
from consent.models import ConsentEvent
from tests.api.conftest import assert_error, client_with_key

WITHDRAW = {"phone": "+447911123456", "purpose": "marketing", "action": "withdraw"}
KEY = "opt-out-7f3a"


class DatabaseGone:
    """From `fail()` on, every statement but a rollback fails as if the server had gone."""

    def __init__(self) -> None:
        self.gone = False

    def fail(self) -> None:
        self.gone = True
        raise OperationalError("server closed the connection unexpectedly")

    def __call__(self, execute, sql, params, many, context):
        if self.gone and not sql.lstrip().upper().startswith(("ROLLBACK", "RELEASE")):
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)


@contextmanager
def database_lost_mid_request(monkeypatch) -> Iterator[DatabaseGone]:
    """The opt-out's service finds the database gone; so does everything after it in
    that request (releasing the claim included), until the request has answered."""
    gone = DatabaseGone()

    def lose_the_database(**kwargs):
        gone.fail()

    with monkeypatch.context() as patch, connection.execute_wrapper(gone):
        patch.setattr("consent.services.record_opt_out", lose_the_database)
        yield gone


# Transactional: the requests commit as in production, with no test transaction around them.
@pytest.mark.django_db(transaction=True)
def test_a_retry_after_the_database_failed_mid_request_is_processed(monkeypatch):
    api = client_with_key("consent:write")
    api.raise_request_exception = False
    # given an opt-out whose request lost the database half way
    with database_lost_mid_request(monkeypatch):
        failed = api.post("/api/v1/consent-events/", WITHDRAW, HTTP_IDEMPOTENCY_KEY=KEY)
    assert failed.status_code == 500
    # when the client retries with the same key
    retry = api.post("/api/v1/consent-events/", WITHDRAW, HTTP_IDEMPOTENCY_KEY=KEY)
    # then the opt-out is recorded, once, and a further retry is a replay
    assert retry.status_code == 201, retry.content
    assert ConsentEvent.objects.filter(action="withdraw").count() == 1
    again = api.post("/api/v1/consent-events/", WITHDRAW, HTTP_IDEMPOTENCY_KEY=KEY)
    assert (again.status_code, again["Idempotent-Replayed"]) == (201, "true")
    assert again.json()["id"] == retry.json()["id"]


# --- The real thing: PostgreSQL goes away under the request ------------------------


def another_connection(database: str | None = None) -> BaseDatabaseWrapper:
    """A second connection, to the test database or to `database` on the same server."""
    wrapper = type(connections[DEFAULT_DB_ALIAS])
    return wrapper({**connection.settings_dict, **({"NAME": database} if database else {})})


def on_the_server(sql: str, params: list | None = None) -> None:
    other = another_connection("postgres")
    try:
        with other.cursor() as cursor:
            cursor.execute(sql, params)
    finally:
        other.close()


def restart_postgresql_under_this_request() -> None:
    """Drop this request's session and refuse new ones to the database, as a restart does
    (until `postgresql_is_back`): nothing the request tries afterwards reaches it."""
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    name = connection.ops.quote_name(connection.settings_dict["NAME"])
    on_the_server(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
    # Waits (up to 5 s) until the session is really gone.
    on_the_server("SELECT pg_terminate_backend(%s, 5000)", [pid])


def postgresql_is_back() -> None:
    name = connection.ops.quote_name(connection.settings_dict["NAME"])
    on_the_server(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_retry_after_postgresql_restarted_mid_request_is_processed(live_server, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL restart needs PostgreSQL (CI runs this)")
    key = client_with_key("consent:write").raw_key
    real_record_opt_out = services.record_opt_out

    def record_while_postgresql_restarts(**kwargs):
        # Half way through the request: the key is claimed, the contact created.
        restart_postgresql_under_this_request()
        return real_record_opt_out(**kwargs)

    with httpx.Client(
        base_url=live_server.url,
        headers={"Authorization": f"Api-Key {key}", "Idempotency-Key": KEY},
        timeout=30,
    ) as api:
        # given an opt-out whose database went away mid-request
        try:
            with monkeypatch.context() as patch:
                patch.setattr("consent.services.record_opt_out", record_while_postgresql_restarts)
                failed = api.post("/api/v1/consent-events/", json=WITHDRAW)
        finally:
            postgresql_is_back()
        assert failed.status_code == 500, failed.text
        # when the client retries at once with the same key, the database back
        retry = api.post("/api/v1/consent-events/", json=WITHDRAW)
        # then it is processed, not refused as busy
        assert retry.status_code == 201, retry.text
        again = api.post("/api/v1/consent-events/", json=WITHDRAW)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert ConsentEvent.objects.filter(action="withdraw").count() == 1


# --- A first request still running ----------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_retry_waits_for_a_running_first_request_and_runs_once_it_failed(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("a claim held by another open transaction needs PostgreSQL (CI runs this)")
    monkeypatch.setattr("api.idempotency.CLAIM_WAIT", timedelta(milliseconds=300))
    api = client_with_key("consent:write")
    # given a first request with the key, claimed and still running in its transaction
    first = another_connection()
    first.set_autocommit(False)
    with first.cursor() as cursor:
        cursor.execute(
            "INSERT INTO api_idempotencyrecord (owner, key, method, path, fingerprint, created_at)"
            " VALUES (%s, %s, 'POST', '/api/v1/consent-events/', 'x', now())",
            [f"key:{api.api_key.pk}", hashlib.sha256(KEY.encode()).hexdigest()],
        )
    try:
        # when a retry comes meanwhile, it waits, then hears the first is still running
        busy = api.post("/api/v1/consent-events/", WITHDRAW, HTTP_IDEMPOTENCY_KEY=KEY)
        assert_error(busy, 409, "idempotency_busy")
        # and once the first request has failed (its transaction gone)
        first.rollback()
    finally:
        first.close()
    retry = api.post("/api/v1/consent-events/", WITHDRAW, HTTP_IDEMPOTENCY_KEY=KEY)
    # then the retry is processed at once
    assert retry.status_code == 201, retry.content
    assert ConsentEvent.objects.filter(action="withdraw").count() == 1


def test_a_claim_left_by_the_earlier_release_holds_the_key_no_longer_than_a_request(db):
    api = client_with_key("consent:write")
    # given a claim committed without an answer (as the earlier release left them)
    api.post("/api/v1/consent-events/", WITHDRAW, HTTP_IDEMPOTENCY_KEY=KEY)
    IdempotencyRecord.objects.update(
        status_code=None,
        body=None,
        created_at=timezone.now() - timedelta(seconds=31),
    )
    # when the retry comes after the longest a request may run (gunicorn's 30 s timeout)
    retry = api.post("/api/v1/consent-events/", WITHDRAW, HTTP_IDEMPOTENCY_KEY=KEY)
    # then it is processed, not refused as busy
    assert retry.status_code == 201, retry.content
    assert "Idempotent-Replayed" not in retry
