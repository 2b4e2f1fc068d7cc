"""Deliveries by real Celery workers on Redis to a real receiver: a worker killed
mid-delivery and a receiver that goes down and comes back lose nothing, and each contact's
changes arrive in order.

The workers are separate processes sharing this run's database, so this needs PostgreSQL
and Redis (TEST_REDIS_URL), as the outbox's worker tests do.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from django.db import connection
from django.utils import timezone

from config.celery import app
from integrations import services, tasks
from integrations.models import Change, ChangeType, Delivery, DeliveryStatus
from tests.consent_helpers import notice_for, record
from tests.factories import ContactFactory
from tests.whatsapp.workers import (
    BROKER_URL,
    Worker,
    environment,
    forget_routing,
    free_port,
    redis_or_skip,
    wait_until,
)

from .receiver import Receiver, verify_webhook

pytestmark = [pytest.mark.worker, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def workers(settings, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the workers share the test database, which needs PostgreSQL (CI runs this)")
    broker = redis_or_skip(BROKER_URL)
    broker.flushdb()
    saved = {k: app.conf.get(k) for k in ("broker_url", "task_always_eager")}
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.update(broker_url=BROKER_URL, task_always_eager=False)
    monkeypatch.setenv("CELERY_BROKER_URL", BROKER_URL)
    forget_routing()
    started: list[Worker] = []

    def start() -> Worker:
        env = environment(
            "http://127.0.0.1:9/unused",
            WEBHOOK_ALLOW_PRIVATE_URLS="true",
            WEBHOOK_TIMEOUT_SECONDS="30",
            WEBHOOK_RETRY_BASE_SECONDS="0.2",
            WEBHOOK_RETRY_MAX_SECONDS="1",
        )
        worker = Worker(env, f"webhooks{len(started)}")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    app.conf.update(saved)
    forget_routing()
    broker.flushdb()


def owed_sequences() -> dict[str, list[int]]:
    owed: dict[str, list[int]] = defaultdict(list)
    for contact, sequence in Change.objects.filter(type=ChangeType.CONSENT_CHANGED).values_list(
        "contact_id", "sequence"
    ):
        owed[str(contact)].append(sequence)
    return owed


def all_delivered() -> bool:
    return not Delivery.objects.exclude(status=DeliveryStatus.DELIVERED).exists()


def time_passes() -> None:
    """Claims of a dead worker lapse; retries are due; the sweep's grace has gone by."""
    past = timezone.now() - timezone.timedelta(minutes=5)
    Delivery.objects.filter(status=DeliveryStatus.PENDING).update(
        claimed_until=None, next_attempt_at=past
    )


def test_a_killed_worker_and_a_receiver_that_restarts_lose_nothing_and_keep_order(
    workers, settings
):
    settings.WEBHOOK_SWEEP_GRACE_SECONDS = 0
    port = free_port()
    receiver = Receiver(port)
    endpoint = services.register_endpoint(url=receiver.url, events=["consent.changed"])
    notice = notice_for("marketing")
    contacts = [ContactFactory() for _ in range(4)]

    # a receiver that hangs on one of the first contact's changes, and a worker killed then
    for contact in contacts:
        record(contact, "grant", notice=notice)
        record(contact, "withdraw")
    # its withdraw: the grant before it has arrived by then
    hang = Change.objects.get(contact_id=contacts[0].pk, type="consent.changed", sequence=3)
    receiver.hang_on.add(str(hang.event_id))
    first = workers()
    assert receiver.hung.wait(60), "the worker never reached the receiver"
    first.kill()
    time_passes()  # the dead worker's claim lapses

    # the receiver goes down; more changes while it is down; a new worker fails to reach it
    receiver.stop()
    for contact in contacts:
        record(contact, "grant", notice=notice)
    workers()
    assert wait_until(
        lambda: Delivery.objects.filter(attempts__gt=0, status=DeliveryStatus.PENDING).exists(),
        timeout=30,
    )

    # it comes back on the same address; time passes; the sweep finds what is owed
    before = receiver.received
    receiver = Receiver(port)
    time_passes()
    tasks.sweep_webhook_deliveries()
    assert wait_until(lambda: (tasks.sweep_webhook_deliveries(), all_delivered())[1], timeout=90)

    receiver.received[:0] = before  # what the receiver got before it went down comes first
    assert any(got.answered == 200 for got in before)
    delivered = {got.event["id"] for got in receiver.delivered()}
    changes = Change.objects.filter(type="consent.changed").values_list("event_id", flat=True)
    assert delivered == {str(event_id) for event_id in changes}
    assert receiver.in_order_per_contact(owed_sequences())
    for got in receiver.delivered():
        assert verify_webhook.verify(got.body, got.headers["Consent-Signature"], endpoint.secret)
    receiver.stop()
