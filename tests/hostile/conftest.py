"""The hostile-input corpus: a small world, an API client, and the checks every case makes."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from api.scopes import SCOPES
from campaigns.models import Campaign, CampaignKind
from consent.rules import Action, Purpose
from groups.models import Group, GroupInvitation
from preferences.links import preference_path
from tests.api.conftest import client_with_key
from tests.consent_helpers import record
from tests.factories import ContactFactory, NoticeFactory, PolicyFactory

# Every table a request from outside could write to. The api app's own rows (the
# stored answer of an Idempotency-Key, a key's last use) are bookkeeping, not state.
WATCHED_APPS = ("contacts", "consent", "groups", "campaigns", "whatsapp")


@pytest.fixture(autouse=True)
def _hostile_settings(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "100000/minute", "api_key_bulk": "100000/minute"},
    }
    settings.PAGES_RATE_LIMITS = {
        "preferences_ip": "100000/h",
        "preferences_token": "100000/h",
        "optin_ip": "100000/h",
        "optin_phone": "100000/h",
    }
    settings.WHATSAPP_APP_SECRET = "test-app-secret"
    settings.WHATSAPP_VERIFY_TOKEN = "test-verify-token"
    settings.WHATSAPP_BACKEND = "console"
    cache.clear()
    yield
    cache.clear()


class World:
    """What the hostile requests aim at: one of each thing an endpoint names."""

    def __init__(self) -> None:
        self.policy = PolicyFactory()
        self.marketing = NoticeFactory(purpose=Purpose.MARKETING, language="en", version=1)
        self.service = NoticeFactory(purpose=Purpose.SERVICE, language="en", version=1)
        self.ada = ContactFactory(phone="+447911123456", name="Ada", attributes={"city": "Leeds"})
        record(self.ada, Action.GRANT, notice=self.marketing)
        self.bob = ContactFactory(phone="+447911123457", name="Bob")
        record(self.bob, Action.GRANT, notice=self.marketing)
        self.group = Group.objects.create(name="VIP", purpose=Purpose.MARKETING)
        self.invitation = GroupInvitation.objects.create(
            group=self.group, contact=self.bob, expires_at=timezone.now() + timedelta(days=7)
        )
        self.campaign = Campaign.objects.create(
            name="Winter sale",
            kind=CampaignKind.MARKETING,
            purpose=Purpose.MARKETING,
            template_name="winter_sale",
            template_language="en",
        )
        self.client = client_with_key(*SCOPES)

    @property
    def preference_path(self) -> str:
        return preference_path(self.ada)


@pytest.fixture(scope="module")
def _module_world(django_db_setup, django_db_blocker) -> Iterator[World]:
    """Built once per test module inside a transaction that is rolled back afterwards.

    Each test runs in its own savepoint inside it (pytest-django's `db`), so what one
    case writes never reaches the next, as with Django's `setUpTestData`.
    """
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield World()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def world(_module_world, db) -> World:
    for thing in (_module_world.ada, _module_world.bob, _module_world.group):
        thing.refresh_from_db()
    _module_world.invitation.refresh_from_db()
    _module_world.campaign.refresh_from_db()
    return _module_world


def row_counts() -> dict[str, int]:
    """Rows per watched table, in one query (this runs twice per case)."""
    tables = sorted(
        {
            model._meta.db_table
            for app in WATCHED_APPS
            for model in apps.get_app_config(app).get_models(include_auto_created=True)
        }
    )
    quote = connection.ops.quote_name
    counts = ", ".join(f"(SELECT COUNT(*) FROM {quote(table)})" for table in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts}")
        return dict(zip(tables, cursor.fetchone(), strict=True))


def assert_ledger_verifies() -> None:
    call_command("verify_ledger", stdout=StringIO(), stderr=StringIO())
    call_command("rebuild_consent_state", "--check", stdout=StringIO(), stderr=StringIO())


@contextmanager
def nothing_written() -> Iterator[None]:
    """Row counts of every watched table are the same after, and the ledger verifies."""
    before = row_counts()
    yield
    after = row_counts()
    changed = {
        label: (before[label], after[label]) for label in before if before[label] != after[label]
    }
    assert not changed, f"rows written: {changed}"
    assert_ledger_verifies()


def assert_api_answer(
    response, *, status: int | tuple[int, ...] | None = None, attr=None
) -> dict | None:
    """< 500; an error is the documented JSON shape; `attr` (when given) names the field."""
    assert response.status_code < 500, response.content[:500]
    if status is not None:
        expected = status if isinstance(status, tuple) else (status,)
        assert response.status_code in expected, (response.status_code, response.content[:500])
    if response.status_code < 400:
        return None
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"type", "errors"}, body
    assert body["type"] in ("validation_error", "client_error"), body
    assert body["errors"], body
    for error in body["errors"]:
        assert set(error) >= {"code", "detail", "attr"}, error
        assert isinstance(error["code"], str) and isinstance(error["detail"], str), error
    if attr is not None:
        attrs = [error["attr"] for error in body["errors"]]
        assert any(a == attr or (a or "").startswith(f"{attr}.") for a in attrs), (attr, body)
    return body


def assert_page_answer(response, *, status: int | tuple[int, ...] | None = None) -> None:
    assert response.status_code < 500, response.content[:500]
    if status is not None:
        expected = status if isinstance(status, tuple) else (status,)
        assert response.status_code in expected, (response.status_code, response.content[:300])
