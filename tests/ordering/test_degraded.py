"""Degrade, don't fail: with the cache or the broker down, opt-outs keep working.

The cache and the broker point at a closed port on 127.0.0.1 (nothing listens).
"""

import time
from datetime import timedelta

import pytest
from celery import Celery
from django.core.cache import caches
from django.utils import timezone

from config.celery import app
from consent.models import ConsentEvent
from consent.rules import Action
from consent.selectors import may_send
from preferences.links import preference_url
from tests.api.conftest import client_with_key
from tests.consent_helpers import record
from tests.factories import ContactFactory
from tests.whatsapp.helpers import ADA_WA_ID, encode, sign, with_message
from whatsapp.models import InboundEvent
from whatsapp.services import process_stragglers

pytestmark = pytest.mark.django_db

CLOSED = "redis://127.0.0.1:9/0"


@pytest.fixture
def cache_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.FailOpenRedisCache",
            "LOCATION": CLOSED,
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    # Django's setting_changed signal rebuilds the cache handlers from this.
    yield
    caches["default"].close()


@pytest.fixture
def broker_down(monkeypatch, settings):
    """The webhook publishes through a Celery app whose broker is a closed port.

    A separate app, so the suite's own app and connection pools stay untouched;
    the publish really goes to 127.0.0.1:9 and really fails.
    """
    closed = Celery("broker-down", broker=CLOSED, set_as_current=False)
    # CELERY_BROKER_URL in the environment outranks `broker`; the write URL does not.
    closed.conf.broker_write_url = CLOSED
    closed.conf.task_always_eager = False
    closed.conf.task_publish_retry_policy = settings.CELERY_TASK_PUBLISH_RETRY_POLICY
    closed.conf.broker_transport_options = {"socket_connect_timeout": 1}

    # shared=False: a shared task would also be registered in every app finalized
    # later, the suite's own included, in place of the real one.
    @closed.task(name="whatsapp.tasks.process_inbound_events", shared=False)
    def task(event_ids):
        return 0

    monkeypatch.setattr("whatsapp.tasks.process_inbound_events", task)
    yield
    # shared_task proxies follow the current app: make sure it is ours again.
    app.set_current()


def test_eligibility_answers_with_the_cache_down(cache_down):
    ada = ContactFactory(phone="+447911123456")
    record(ada, Action.WITHDRAW)
    api = client_with_key("consent:read")

    response = api.get("/api/v1/eligibility/", {"phone": "+447911123456", "purpose": "marketing"})

    assert response.status_code == 200
    assert response.json()["reason"] == "opted_out"


def test_a_customer_opts_out_on_the_preference_centre_with_the_cache_down(
    cache_down, client, marketing_notice
):
    ada = ContactFactory()
    record(ada, Action.GRANT, notice=marketing_notice, at=timezone.now() - timedelta(days=1))
    page = "/" + preference_url(ada).split("://", 1)[-1].split("/", 1)[-1]

    assert client.get(page).status_code == 200
    response = client.post(f"{page}change/", {"action": "withdraw", "purpose": "marketing"})

    assert response.status_code == 302
    assert not may_send(ada, "marketing").allowed


def test_the_opt_in_form_answers_with_the_cache_down(cache_down, client, marketing_notice):
    assert client.get("/opt-in/").status_code == 200


def test_a_stop_is_stored_and_answered_with_the_broker_down_then_swept(
    broker_down, client, django_capture_on_commit_callbacks, settings
):
    settings.WHATSAPP_APP_SECRET = "test-app-secret"
    ContactFactory(phone="+447911123456", wa_id=ADA_WA_ID)
    body = encode(with_message("text_stop"))

    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/webhooks/whatsapp/",
            data=body,
            content_type="application/json",
            headers={"X-Hub-Signature-256": sign(body, "test-app-secret")},
        )

    assert response.status_code == 200
    assert time.monotonic() - started < 30  # answered, not hung on the broker
    item = InboundEvent.objects.get(kind="message")
    assert item.state == InboundEvent.State.RECEIVED
    assert not ConsentEvent.objects.exists()

    # The sweep (beat, once the broker is back) processes what was never enqueued.
    InboundEvent.objects.filter(pk=item.pk).update(received_at=timezone.now() - timedelta(hours=1))
    process_stragglers()

    assert not may_send("+447911123456", "marketing").allowed
