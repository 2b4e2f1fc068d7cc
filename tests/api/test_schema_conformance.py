"""schemathesis against the live schema: no 500s, no response that contradicts the schema.

Two runs: every operation alone with at least 50 generated requests each (positive and
negative data), and the stateful workflows the schema's links describe (upsert a
contact → record its consent → ask its eligibility, …), each a sequence of calls
feeding one response into the next request.

Depth is set here, not only in CI: `SCHEMATHESIS_EXAMPLES` and `SCHEMATHESIS_SCENARIOS`
raise it for a longer hunt; a failure prints the `@seed(...)` that reproduces it.
"""

import os

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, settings
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


# Every resource of /api/v1/ is held to its schema.
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


CHECKS = [not_a_server_error, response_schema_conformance]
EXAMPLES = max(50, int(os.environ.get("SCHEMATHESIS_EXAMPLES", "50")))
SCENARIOS = int(os.environ.get("SCHEMATHESIS_SCENARIOS", "40"))


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_to_its_schema(case, live_app, authorization):
    case.call_and_validate(headers=authorization, checks=CHECKS)


def test_linked_calls_keep_to_the_schema(live_app, authorization):
    """Follows the schema's links: a contact upserted, its consent recorded, its eligibility."""

    class Workflow(schema.as_state_machine()):
        # Each scenario starts from the same data: Hypothesis replays a scenario's choices
        # and refuses (FlakyStrategyDefinition) when an earlier scenario's writes change
        # which links a response offers.
        def setup(self):
            self.savepoint = transaction.savepoint()

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

        def get_call_kwargs(self, case):
            return {"headers": authorization}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Workflow.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            # Shrinking a failing workflow takes long; the seed printed reproduces it.
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
        )
    )
