"""record_consent on PostgreSQL: how often it waits for the database does not grow with
what it writes (the event, its evidence, the state, the audit row, the webhook change and a
delivery per endpoint). Counted from libpq's protocol trace (bench.common.round_trips)."""

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction

from bench.common import round_trips
from config.celery import app
from consent.services import Evidence, record_consent
from integrations import tasks
from integrations.services import register_endpoint
from tests.consent_helpers import notice_for
from tests.factories import ContactFactory

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("round trips are PostgreSQL's: SQLite is in the process")


def grant(contact, notice, **audit):
    record_consent(
        contact=contact,
        purpose="marketing",
        action="grant",
        source="api",
        notice=notice,
        evidence=Evidence(ip="203.0.113.9", user_agent="pytest"),
        **audit,
    )


def test_alone_it_waits_four_times_with_an_audit_row_and_endpoints(
    postgresql, transactional_db, settings, monkeypatch
):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    # The delivery tasks are handed to the broker after the commit, not run here.
    sent = []
    for task in (tasks.deliver_to_endpoint, tasks.deliver_to_endpoints):
        monkeypatch.setattr(task, "apply_async", lambda args, countdown=None: sent.append(args))
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    notice = notice_for("marketing")
    actor = User.objects.create(username="compliance")
    contacts = [ContactFactory() for _ in range(2)]
    bare = round_trips(connection, lambda: grant(contacts[0], notice))
    for n in range(3):
        register_endpoint(url=f"http://127.0.0.1:9/{n}", events=["consent.changed"])

    full = round_trips(connection, lambda: grant(contacts[1], notice, actor=actor, audited=True))

    # BEGIN; the lock and the read; the writes, answered together; COMMIT.
    assert bare == full == 4
    assert sent, "the endpoints' task was handed over after the commit"


def test_inside_another_transaction_it_waits_four_times(postgresql, db):
    notice = notice_for("marketing")
    contact = ContactFactory()
    assert transaction.get_connection().in_atomic_block

    # The savepoint; the lock and the read; the writes; the savepoint's release.
    assert round_trips(connection, lambda: grant(contact, notice)) == 4
