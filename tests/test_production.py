"""The production path: health endpoint and deployment checks."""

import pytest
from django.core.checks import run_checks

pytestmark = pytest.mark.django_db


def test_health_reports_database_cache_broker_and_migrations(client):
    response = client.get("/health/", HTTP_ACCEPT="application/json")

    body = response.json()
    assert response.status_code in (200, 500)
    names = " ".join(body)
    for part in ("Database", "Cache", "Broker", "Migrations"):
        assert part in names
    assert all(status == "OK" for name, status in body.items() if "Broker" not in name)


def test_health_is_unhealthy_when_the_broker_is_unreachable(client, monkeypatch):
    from celery import Celery

    # Nothing listens on port 9; a separate app leaves the suite's own pools alone.
    from config.celery import app

    closed = Celery(broker="redis://127.0.0.1:9/0", set_as_current=False)
    # CELERY_BROKER_URL in the environment outranks `broker`; the write URL does not.
    closed.conf.broker_write_url = "redis://127.0.0.1:9/0"
    monkeypatch.setattr("config.health.app", closed)

    response = client.get("/health/", HTTP_ACCEPT="application/json")

    app.set_current()  # shared_task proxies follow the current app
    assert response.status_code == 500
    assert [v for k, v in response.json().items() if "Broker" in k] != ["OK"]


def test_per_process_cache_is_an_error_when_debug_is_off(settings):
    settings.DEBUG = False
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

    errors = [e.id for e in run_checks(include_deployment_checks=True)]

    assert "config.E001" in errors


def test_a_shared_cache_passes_the_check(settings):
    settings.DEBUG = False
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.FailOpenRedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        }
    }

    errors = [e.id for e in run_checks(include_deployment_checks=True)]

    assert "config.E001" not in errors
