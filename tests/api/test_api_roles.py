"""Every API operation answers each caller as the admin answers its role.

The operations are walked from the schema served at /api/schema/, so a new endpoint
without a row in EXPECTED fails here. Each operation is called by a marketing
session, a compliance session, an outsider (staff without a role), a superuser, and
a key holding each scope alone: a caller it allows gets the success answer (the work
is really done), any other gets 403 `permission_denied` and nothing is done.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group as Role
from django.core.cache import cache
from django.db import transaction
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from api.scopes import SCOPES
from campaigns.models import Campaign, CampaignKind
from consent.rules import Action, Purpose
from groups.models import Group, GroupInvitation
from groups.services import respond_to_invitation
from integrations.models import WebhookEndpoint
from staff.roles import COMPLIANCE, MARKETING
from tests.api.conftest import assert_error, client_with_key
from tests.consent_helpers import record
from tests.factories import ContactFactory, NoticeFactory

SUPERUSER = "superuser"
OUTSIDER = "outsider"
STAFF = (MARKETING, COMPLIANCE, OUTSIDER, SUPERUSER)
CALLERS = (*STAFF, *(f"key {scope}" for scope in SCOPES))
EVERY_ROLE = frozenset({MARKETING, COMPLIANCE, SUPERUSER})
MARKETING_ONLY = frozenset({MARKETING, SUPERUSER})
COMPLIANCE_ONLY = frozenset({COMPLIANCE, SUPERUSER})
NO_STAFF: frozenset[str] = frozenset()


class World:
    """One of each thing an operation names, and a user per role."""

    def __init__(self) -> None:
        notice = NoticeFactory(purpose=Purpose.MARKETING, language="en", version=1)
        self.ada = ContactFactory(phone="+447911123456", name="Ada")
        record(self.ada, Action.GRANT, notice=notice)
        self.bob = ContactFactory(phone="+447911123457", name="Bob")
        record(self.bob, Action.GRANT, notice=notice)
        cy = ContactFactory(phone="+447911123458", name="Cy")
        record(cy, Action.GRANT, notice=notice)
        self.group = Group.objects.create(name="VIP", purpose=Purpose.MARKETING)
        week = timezone.now() + timedelta(days=7)
        self.invitation = GroupInvitation.objects.create(
            group=self.group, contact=self.bob, expires_at=week
        )
        self.member = GroupInvitation.objects.create(group=self.group, contact=cy, expires_at=week)
        respond_to_invitation(invitation=self.member, answer="accept", source="answer_page")
        self.campaign = Campaign.objects.create(
            name="Winter sale",
            kind=CampaignKind.MARKETING,
            purpose=Purpose.MARKETING,
            template_name="winter_sale",
            template_language="en",
        )
        self.endpoint = WebhookEndpoint.objects.create(
            url="https://hooks.example.com/in", events=["consent.changed"]
        )
        users = get_user_model().objects
        self.users = {
            MARKETING: users.create_user("marketing", password="pw", is_staff=True),
            COMPLIANCE: users.create_user("compliance", password="pw", is_staff=True),
            OUTSIDER: users.create_user("outsider", password="pw", is_staff=True),
            SUPERUSER: users.create_superuser("boss", "boss@example.com", "pw"),
        }
        for role in (MARKETING, COMPLIANCE):
            self.users[role].groups.add(Role.objects.get(name=role))

    def client(self, caller: str) -> APIClient:
        if caller.startswith("key "):
            return client_with_key(caller.removeprefix("key "))
        client = APIClient()
        client.force_login(self.users[caller])
        return client


@dataclass(frozen=True)
class Expected:
    scope: str
    # Who among the staff may (MARKETING, COMPLIANCE, SUPERUSER); OUTSIDER never does.
    staff: frozenset[str]
    success: int
    request: Callable[[World], tuple[str, dict[str, Any] | None]]


def at(url: str, body: dict[str, Any] | None = None) -> Callable[[World], tuple[str, Any]]:
    """A request to `url` with `{ada}`, `{group}`… filled from the world."""

    def build(world: World) -> tuple[str, dict[str, Any] | None]:
        return (
            url.format(
                ada=world.ada.pk,
                group=world.group.pk,
                invitation=world.invitation.pk,
                member=world.member.pk,
                campaign=world.campaign.pk,
                endpoint=world.endpoint.pk,
            ),
            body,
        )

    return build


ELIGIBILITY = "/api/v1/eligibility/?phone=%2B447911123456&purpose=marketing"
WITHDRAW = {"phone": "+447911123456", "purpose": "marketing", "action": "withdraw"}

EXPECTED: dict[tuple[str, str], Expected] = {
    ("GET", "/api/v1/contacts/"): Expected(
        "contacts:read", EVERY_ROLE, 200, at("/api/v1/contacts/")
    ),
    ("POST", "/api/v1/contacts/"): Expected(
        "contacts:write", MARKETING_ONLY, 201, at("/api/v1/contacts/", {"phone": "+447911123999"})
    ),
    ("GET", "/api/v1/contacts/{id}/"): Expected(
        "contacts:read", EVERY_ROLE, 200, at("/api/v1/contacts/{ada}/")
    ),
    ("PATCH", "/api/v1/contacts/{id}/"): Expected(
        "contacts:write", MARKETING_ONLY, 200, at("/api/v1/contacts/{ada}/", {"name": "Ada L."})
    ),
    # Erasure: compliance, as in the admin; a key needs contacts:erase.
    ("DELETE", "/api/v1/contacts/{id}/"): Expected(
        "contacts:erase", COMPLIANCE_ONLY, 204, at("/api/v1/contacts/{ada}/")
    ),
    # The proof: the admin's proof export is compliance's.
    ("GET", "/api/v1/contacts/{id}/proof/"): Expected(
        "consent:read", COMPLIANCE_ONLY, 200, at("/api/v1/contacts/{ada}/proof/")
    ),
    ("GET", "/api/v1/notices/"): Expected("consent:read", EVERY_ROLE, 200, at("/api/v1/notices/")),
    ("GET", "/api/v1/topics/"): Expected("consent:read", EVERY_ROLE, 200, at("/api/v1/topics/")),
    ("GET", "/api/v1/consent-events/"): Expected(
        "consent:read", EVERY_ROLE, 200, at("/api/v1/consent-events/")
    ),
    ("GET", "/api/v1/consent-events/{id}/"): Expected(
        "consent:read",
        EVERY_ROLE,
        200,
        lambda world: (f"/api/v1/consent-events/{world.ada.consent_events.get().pk}/", None),
    ),
    # Staff record an opt-out where the admin lets them change contacts.
    ("POST", "/api/v1/consent-events/"): Expected(
        "consent:write", MARKETING_ONLY, 201, at("/api/v1/consent-events/", WITHDRAW)
    ),
    ("GET", "/api/v1/eligibility/"): Expected("consent:read", EVERY_ROLE, 200, at(ELIGIBILITY)),
    ("POST", "/api/v1/eligibility/bulk/"): Expected(
        "consent:read",
        EVERY_ROLE,
        200,
        at("/api/v1/eligibility/bulk/", {"purpose": "marketing", "phones": ["+447911123456"]}),
    ),
    ("GET", "/api/v1/templates/"): Expected(
        "campaigns:read", EVERY_ROLE, 200, at("/api/v1/templates/")
    ),
    ("GET", "/api/v1/campaigns/"): Expected(
        "campaigns:read", EVERY_ROLE, 200, at("/api/v1/campaigns/")
    ),
    ("GET", "/api/v1/campaigns/{id}/"): Expected(
        "campaigns:read", EVERY_ROLE, 200, at("/api/v1/campaigns/{campaign}/")
    ),
    ("POST", "/api/v1/campaigns/{id}/launch/"): Expected(
        "campaigns:write", MARKETING_ONLY, 202, at("/api/v1/campaigns/{campaign}/launch/")
    ),
    ("GET", "/api/v1/groups/"): Expected("groups:read", EVERY_ROLE, 200, at("/api/v1/groups/")),
    ("POST", "/api/v1/groups/"): Expected(
        "groups:write", MARKETING_ONLY, 201, at("/api/v1/groups/", {"name": "Book club"})
    ),
    ("GET", "/api/v1/groups/{id}/"): Expected(
        "groups:read", EVERY_ROLE, 200, at("/api/v1/groups/{group}/")
    ),
    ("POST", "/api/v1/groups/{id}/invitations/"): Expected(
        "groups:write",
        MARKETING_ONLY,
        201,
        at("/api/v1/groups/{group}/invitations/", {"phone": "+447911123456"}),
    ),
    ("GET", "/api/v1/groups/{id}/members/"): Expected(
        "groups:read", EVERY_ROLE, 200, at("/api/v1/groups/{group}/members/")
    ),
    ("GET", "/api/v1/invitations/{id}/"): Expected(
        "groups:read", EVERY_ROLE, 200, at("/api/v1/invitations/{invitation}/")
    ),
    ("POST", "/api/v1/invitations/{id}/revoke/"): Expected(
        "groups:write", MARKETING_ONLY, 200, at("/api/v1/invitations/{invitation}/revoke/")
    ),
    # The person's answer: an integration captured it; staff never give it for them.
    ("POST", "/api/v1/invitations/{id}/respond/"): Expected(
        "groups:write",
        NO_STAFF,
        200,
        at("/api/v1/invitations/{invitation}/respond/", {"answer": "accept"}),
    ),
    ("POST", "/api/v1/invitations/{id}/leave/"): Expected(
        "groups:write", MARKETING_ONLY, 200, at("/api/v1/invitations/{member}/leave/")
    ),
    # The person's own copy: whoever sees the contact page (evidence only with the proof's
    # permission or consent:evidence).
    ("GET", "/api/v1/contacts/{id}/export/"): Expected(
        "contacts:read", EVERY_ROLE, 200, at("/api/v1/contacts/{ada}/export/")
    ),
    # Webhook endpoints receive every consent change: compliance's, as in the admin.
    ("GET", "/api/v1/webhook-endpoints/"): Expected(
        "webhooks:write", COMPLIANCE_ONLY, 200, at("/api/v1/webhook-endpoints/")
    ),
    ("POST", "/api/v1/webhook-endpoints/"): Expected(
        "webhooks:write",
        COMPLIANCE_ONLY,
        201,
        at(
            "/api/v1/webhook-endpoints/",
            {"url": "https://hooks.example.com/new", "events": ["consent.changed"]},
        ),
    ),
    ("GET", "/api/v1/webhook-endpoints/{id}/"): Expected(
        "webhooks:write", COMPLIANCE_ONLY, 200, at("/api/v1/webhook-endpoints/{endpoint}/")
    ),
    ("PATCH", "/api/v1/webhook-endpoints/{id}/"): Expected(
        "webhooks:write",
        COMPLIANCE_ONLY,
        200,
        at("/api/v1/webhook-endpoints/{endpoint}/", {"enabled": False}),
    ),
    ("DELETE", "/api/v1/webhook-endpoints/{id}/"): Expected(
        "webhooks:write", COMPLIANCE_ONLY, 204, at("/api/v1/webhook-endpoints/{endpoint}/")
    ),
    ("POST", "/api/v1/webhook-endpoints/{id}/rotate-secret/"): Expected(
        "webhooks:write",
        COMPLIANCE_ONLY,
        200,
        at("/api/v1/webhook-endpoints/{endpoint}/rotate-secret/"),
    ),
    ("GET", "/api/v1/changes/"): Expected(
        "consent:read", COMPLIANCE_ONLY, 200, at("/api/v1/changes/")
    ),
}


def served_operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation in the schema the app serves at /api/schema/."""
    schema = Client().get("/api/schema/?format=json").json()
    return sorted(
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    )


OPERATIONS = served_operations()


def test_every_served_operation_has_its_expected_callers():
    assert set(OPERATIONS) == set(EXPECTED)


@pytest.fixture(scope="module")
def _module_world(django_db_setup, django_db_blocker) -> Iterator[World]:
    """Built once per module in a transaction rolled back afterwards; each test runs in
    its own savepoint inside it (pytest-django's `db`), so no call sees another's work."""
    # The suite's own settings (tests/conftest.py) apply per test; the world is built
    # before them, so it names the phone hash key the tests will look its phones up with.
    with django_db_blocker.unblock(), override_settings(PHONE_HASH_KEY="test-phone-hash-key"):
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield World()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def world(_module_world, db) -> World:
    for thing in (
        _module_world.ada,
        _module_world.bob,
        _module_world.group,
        _module_world.invitation,
        _module_world.member,
        _module_world.campaign,
        _module_world.endpoint,
    ):
        thing.refresh_from_db()
    cache.clear()
    return _module_world


def may(caller: str, expected: Expected) -> bool:
    if caller.startswith("key "):
        return caller.removeprefix("key ") == expected.scope
    return caller in expected.staff


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("operation", OPERATIONS, ids=" ".join)
def test_each_caller_may_do_what_its_role_or_scope_allows(world, operation, caller):
    expected = EXPECTED.get(operation)
    assert expected is not None, f"{operation} has no row in EXPECTED: who may call it?"
    url, body = expected.request(world)
    client = world.client(caller)

    response = getattr(client, operation[0].lower())(url, body, format="json")

    if may(caller, expected):
        assert response.status_code == expected.success, response.content[:300]
    else:
        assert_error(response, 403, "permission_denied")


def test_a_refused_caller_changes_nothing(world):
    # given everything marketing may not do
    compliance_only = [op for op, e in EXPECTED.items() if MARKETING not in e.staff]
    writes = [op for op in compliance_only if op[0] != "GET"]
    marketing = world.client(MARKETING)
    # when it tries each
    for method, path in writes:
        url, body = EXPECTED[(method, path)].request(world)
        getattr(marketing, method.lower())(url, body, format="json")
    # then the person is neither erased nor answered for
    world.ada.refresh_from_db()
    world.invitation.refresh_from_db()
    assert world.ada.erased_at is None
    assert world.invitation.status == "pending"
    assert ("DELETE", "/api/v1/contacts/{id}/") in writes
