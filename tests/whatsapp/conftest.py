from datetime import timedelta

import pytest
from django.utils import timezone

from tests.whatsapp.helpers import SECRET, post_webhook


@pytest.fixture(autouse=True)
def _whatsapp_settings(settings):
    settings.WHATSAPP_APP_SECRET = SECRET
    settings.WHATSAPP_VERIFY_TOKEN = "test-verify-token"
    settings.WHATSAPP_BACKEND = "console"
    settings.WHATSAPP_MAX_ATTEMPTS = 3


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    """POST a signed payload and run what the view enqueues on commit (eager Celery)."""

    def _deliver(payload, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return post_webhook(client, payload, **kwargs)

    return _deliver


@pytest.fixture
def notices(marketing_notice, service_notice):
    return {"marketing": marketing_notice, "service": service_notice}


@pytest.fixture
def ada(db):
    from tests.factories import ContactFactory

    return ContactFactory(phone="+447911123456", wa_id="447911123456", name="Ada Lovelace")


@pytest.fixture
def one_tap_sent(db, ada, notices):
    """Our one-tap opt-in to Ada (wamid.OUTBOUND-ONE-TAP) carried both current notices."""
    from whatsapp.models import OutboundMessage

    return OutboundMessage.objects.create(
        wamid="wamid.OUTBOUND-ONE-TAP",
        to=ada.wa_id,
        contact_id=ada.pk,
        kind=OutboundMessage.Kind.BUTTONS,
        payload={},
        notice_refs=["marketing/en/1", "service/en/1"],
        backend="console",
        status=OutboundMessage.Status.ACCEPTED,
        # Sent before any of the replies the tests deliver.
        created_at=timezone.now() - timedelta(hours=1),
    )


@pytest.fixture
def extra_handlers():
    """Register handlers for one test only."""
    from whatsapp import handlers

    saved = {kind: list(found) for kind, found in handlers._registry.items()}
    yield handlers.on
    handlers._registry.clear()
    handlers._registry.update(saved)


@pytest.fixture
def graph(settings):
    """The cloud backend pointed at a fake Graph API on 127.0.0.1."""
    from tests.whatsapp.fake_graph import FakeGraph

    fake = FakeGraph().start()
    use_fake_graph(settings, fake)
    yield fake
    fake.stop()


def use_fake_graph(settings, fake, *, phone_number_id: str = "106540352242922") -> None:
    """Point the cloud backend at `fake`, with a per-process bucket that never runs dry."""
    from whatsapp import throttle

    settings.WHATSAPP_BACKEND = "cloud"
    settings.WHATSAPP_API_BASE_URL = fake.base_url
    settings.WHATSAPP_API_VERSION = "v23.0"
    settings.WHATSAPP_PHONE_NUMBER_ID = phone_number_id
    settings.WHATSAPP_ACCESS_TOKEN = "test-token"
    settings.WHATSAPP_HTTP_TIMEOUT = 0.5
    settings.WHATSAPP_RATE_LIMIT_URL = ""
    settings.WHATSAPP_MESSAGES_PER_SECOND = 1000
    throttle._local.clear()
    throttle._rates.clear()


@pytest.fixture
def ada_in_window(ada):
    from django.utils import timezone

    from whatsapp.services import open_service_window

    open_service_window(recipients=[ada.wa_id], last_inbound_at=timezone.now())
    return ada


@pytest.fixture(autouse=True)
def _keyword_lists(request):
    """The seeded keyword lists, also after another suite's transactional test flushed them."""
    if request.node.get_closest_marker("django_db") is None:
        return
    import importlib

    from django.apps import apps

    request.getfixturevalue("db")
    from conversation.models import ConsentKeyword

    class Today:
        # The seed migration names the model where it lived then (the consent app).
        @staticmethod
        def get_model(app_label: str, name: str):
            return apps.get_model("conversation", name)

    if not ConsentKeyword.objects.exists():
        importlib.import_module("consent.migrations.0005_seed_consent_keywords").seed(Today, None)


# --- Real workers around a fake Graph API (tests/whatsapp/workers.py) ---------------------


@pytest.fixture
def worker_graph(settings, monkeypatch):
    """A fake Graph API for worker processes: PostgreSQL and Redis needed, Redis flushed."""
    from django.db import connection

    from config.celery import app
    from tests.whatsapp.fake_graph import FakeGraph
    from tests.whatsapp.workers import (
        BROKER_URL,
        BUCKETS_URL,
        forget_routing,
        free_port,
        redis_or_skip,
    )

    if connection.vendor != "postgresql":
        pytest.skip("the workers share the test database, which needs PostgreSQL (CI runs this)")
    broker, buckets = redis_or_skip(BROKER_URL), redis_or_skip(BUCKETS_URL)
    broker.flushdb()
    for key in buckets.scan_iter("whatsapp:bucket:*"):
        buckets.delete(key)
    # Before anything changes: the Celery app reads Django's settings lazily.
    saved = {k: app.conf.get(k) for k in ("broker_url", "task_always_eager")}
    fake = FakeGraph(port=free_port()).start()
    use_fake_graph(settings, fake)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.update(broker_url=BROKER_URL, task_always_eager=False)
    # Celery reads CELERY_BROKER_URL from the environment before its own setting (CI sets it).
    monkeypatch.setenv("CELERY_BROKER_URL", BROKER_URL)
    forget_routing()
    yield fake
    app.conf.update(saved)
    forget_routing()
    fake.stop()
    broker.flushdb()


@pytest.fixture
def workers(worker_graph):
    """Start Celery worker processes against `worker_graph`; all stopped afterwards."""
    from tests.whatsapp.workers import Worker, environment

    started = []

    def start(name: str = "outbox", **env: str) -> Worker:
        worker = Worker(environment(worker_graph.base_url, **env), f"{name}{len(started)}")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
