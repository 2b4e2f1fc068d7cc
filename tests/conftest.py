import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.factories import NoticeFactory


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
