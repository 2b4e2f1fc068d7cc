"""schemathesis against the live schema: no 500s, no response that contradicts the schema."""

import os

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.scopes import SCOPES
from consent.rules import Action
from tests.api.conftest import client_with_key
from tests.consent_helpers import record
from tests.factories import ContactFactory, NoticeFactory


@pytest.fixture
def live_app(db, settings):
    """Test data, generous rates, and the WSGI app kept on the test's own transaction."""
    # The app runs in this thread on the test's connection: Django must not close that
    # connection (and with it the test's transaction) at the end of each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "100000/minute", "api_key_bulk": "100000/minute"},
    }
    notice = NoticeFactory(purpose="marketing", language="en", version=1)
    NoticeFactory(purpose="service", language="en", version=1)
    record(ContactFactory(phone="+447911123456"), Action.GRANT, notice=notice)
    record(ContactFactory(phone="+447911123457"), Action.WITHDRAW)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def authorization(db) -> dict[str, str]:
    return {"Authorization": f"Api-Key {client_with_key(*SCOPES).raw_key}"}


# The endpoints whose schema this test holds to. /api/v1/groups/ joins once a group
# without an invite link answers null rather than "" (the schema says a URI).
CHECKED = (
    "contacts",
    "consent-events",
    "notices",
    "eligibility",
    "campaigns",
    "invitations",
    "groups",
)

# Loaded from the running app's /api/schema/ endpoint, as a client would.
# (schemathesis.pytest.from_fixture does not work with pytest 9 yet: it sets Node._nodeid.)
schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler()).include(
    path_regex=rf"^/api/v1/({'|'.join(CHECKED)})/"
)


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("SCHEMATHESIS_EXAMPLES", "5")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_schema(case, live_app, authorization):
    case.call_and_validate(
        headers=authorization, checks=[not_a_server_error, response_schema_conformance]
    )
