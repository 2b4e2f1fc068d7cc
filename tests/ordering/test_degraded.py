"""Degrade, don't fail: with the cache or the broker down, opt-outs keep working.

The cache and the broker point at a closed port on 127.0.0.1 (nothing listens).
"""

import time
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.utils import timezone

from config.celery import app
from consent.links import preference_url
from consent.models import ConsentEvent
from consent.rules import Action
from consent.selectors import may_send
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
def broker_down():
    """The Celery app publishes to a closed port; its own pools are put back afterwards.

    kombu keys its connection pools by URL, so pointing the app at another URL
    makes new pools and leaves the suite's pools untouched (closing them would
    break every later enqueue).
    """
    # Saved before anything changes: the app read its settings once, lazily.
    saved = (app.conf.broker_url, app.conf.task_always_eager, app._pool, app.amqp._producer_pool)
    app.conf.broker_url = CLOSED
    app.conf.task_always_eager = False
    app._pool = None
    app.amqp._producer_pool = None
    yield
    app.conf.broker_url, app.conf.task_always_eager, app._pool, app.amqp._producer_pool = saved


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


def test_after_a_broker_outage_the_app_is_as_it_was():
    # Runs after the outage test in this module.
    assert app.conf.broker_url != CLOSED
    assert app.conf.task_always_eager
