import os
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.factories import NoticeFactory
from tests.network_guard import refuse_network_inside_transactions

SLOW_MARKERS = ("worker", "browser")


def pytest_collection_modifyitems(config, items):
    """The slowest tests first; on a bare machine without Chromium or npm, the browser tests
    say why they did not run.

    Real workers and a real browser first: pytest-xdist (`--dist load`) deals the first
    tests out in turn, so these are spread over its processes from the start instead of
    one of them being left for the end of the run.
    In CI (CI=true) the browser tests always run: a missing browser there is a failure,
    not a skip.
    """
    items.sort(key=lambda item: not any(item.get_closest_marker(m) for m in SLOW_MARKERS))
    if os.environ.get("CI") == "true":
        return
    missing = [
        what
        for what, present in (
            ("Debian's chromium (apt-get install chromium)", Path("/usr/bin/chromium").exists()),
            ("npm (for axe-core)", shutil.which("npm") is not None),
        )
        if not present
    ]
    if missing:
        skip = pytest.mark.skip(reason=f"browser tests need {' and '.join(missing)}")
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _no_network_inside_transactions(monkeypatch):
    """Every test fails if any code path calls the network inside `transaction.atomic()`."""
    refuse_network_inside_transactions(monkeypatch)


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.PHONE_HASH_KEY = "test-phone-hash-key"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def marketing_notice(db):
    return NoticeFactory(purpose="marketing", language="en", version=1)


@pytest.fixture
def service_notice(db):
    return NoticeFactory(purpose="service", language="en", version=1)


@pytest.fixture
def staff_client(db) -> Client:
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client = Client()
    client.force_login(user)
    client.user = user
    return client
