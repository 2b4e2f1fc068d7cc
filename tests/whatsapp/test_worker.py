"""One end-to-end run with a real Celery worker consuming from Redis."""

import threading
import uuid

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from config.celery import app
from consent.models import ConsentState
from tests import environment
from tests.whatsapp.helpers import post_webhook, with_message
from tests.whatsapp.workers import clear_queue
from whatsapp.models import InboundEvent

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# This xdist worker's Redis database for Celery queues (tests/environment.py).
BROKER_URL = environment.BROKER_URL


def _forget_routing() -> None:
    # Connections and queue declarations are cached on the app: rebuild them
    # from the configuration this test sets (and restores).
    app.__dict__.pop("amqp", None)
    app._pool = None


@pytest.fixture
def redis_worker(settings):
    try:
        redis.Redis.from_url(BROKER_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.RedisError as error:
        pytest.skip(f"no Redis reachable at {BROKER_URL}: {error}")
    # Saved before anything changes: the Celery app reads Django's settings lazily, and
    # restoring what it read after the change would leave later tests not eager.
    keys = ("broker_url", "task_always_eager", "broker_transport_options", "task_default_queue")
    saved = {key: app.conf.get(key) for key in keys}
    settings.CELERY_TASK_ALWAYS_EAGER = False
    # A queue of this run's own: a message left in Redis by an interrupted run
    # (acks_late restores unacked ones) must not be taken for this run's.
    queue = f"whatsapp-test-{uuid.uuid4().hex[:12]}"
    app.conf.update(
        broker_url=BROKER_URL,
        task_always_eager=False,
        broker_transport_options={},
        task_default_queue=queue,
    )
    _forget_routing()
    # In this process, so the worker shares the test database (SQLite's shared
    # in-memory db or the PostgreSQL test db); it consumes from Redis for real.
    try:
        # The test's own default queue, and the queue production routes webhook items to.
        clear_queue(BROKER_URL, django_settings.INBOUND_QUEUE)
        queues = [queue, django_settings.INBOUND_QUEUE]
        with start_worker(
            app, pool="solo", perform_ping_check=False, shutdown_timeout=10, queues=queues
        ):
            yield
    finally:
        app.conf.update(saved)
        _forget_routing()
        clear_queue(BROKER_URL, queue)
        clear_queue(BROKER_URL, django_settings.INBOUND_QUEUE)


def test_a_signed_webhook_is_processed_by_the_worker(
    client, redis_worker, ada, notices, extra_handlers
):
    # given Ada opted in earlier
    from tests.consent_helpers import record

    threads = []
    committed = threading.Event()

    @extra_handlers("message")
    def _where(event):
        threads.append(threading.current_thread().name)
        # Waiting on this, not polling the table, keeps SQLite's shared in-memory
        # test database free of lock contention with the worker's transaction.
        transaction.on_commit(committed.set)

    record(ada, "grant", at=timezone.now() - timezone.timedelta(days=1))

    # when a signed STOP arrives (the view commits, then enqueues to Redis)
    response = post_webhook(client, with_message("text_stop", at=timezone.now()))
    assert response.status_code == 200

    # then the worker, not this process, turns it into an opt-out
    ok = committed.wait(timeout=30)
    assert ok, "the worker did not process the event"
    row = InboundEvent.objects.get()
    assert row.state == InboundEvent.State.PROCESSED, row.error
    assert ConsentState.objects.get(contact=ada, purpose="marketing").status == "opted_out"
    assert threads and threads[0] != threading.main_thread().name
