"""Degrade, don't fail: with the cache or the broker down, opt-outs keep working.

The cache and the broker point at a closed port on 127.0.0.1 (nothing listens).
"""

from datetime import timedelta

import pytest
from django.core.cache import caches
from django.utils import timezone

from consent.links import preference_url
from consent.rules import Action
from consent.selectors import may_send
from tests.api.conftest import client_with_key
from tests.consent_helpers import record
from tests.factories import ContactFactory

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
