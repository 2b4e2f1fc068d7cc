"""Bodies × operations, content types × operations, and hostile queries × list filters.

A body nested 3,000 deep, not UTF-8, not JSON or the wrong shape, or sent as another
content type, is refused (400, 413 or 415) in the documented JSON shape and writes
nothing.
"""

import pytest

from tests.hostile.api_operations import NO_BODY, OPERATIONS
from tests.hostile.conftest import assert_api_answer, nothing_written
from tests.hostile.values import (
    CONTENT_TYPES,
    DEPTH,
    HOSTILE_BODIES,
    QUERY_STRINGS,
    WRONG_SHAPES,
    nested,
)

pytestmark = pytest.mark.django_db

OPERATION_IDS = [operation.name for operation in OPERATIONS]


def send(world, operation, body: bytes, content_type: str = "application/json", **headers):
    method = getattr(world.client, operation.method)
    return method(operation.path(world), body, content_type=content_type, **headers)


@pytest.mark.parametrize("operation", OPERATIONS, ids=OPERATION_IDS)
@pytest.mark.parametrize("body", [b for _, b in HOSTILE_BODIES], ids=[i for i, _ in HOSTILE_BODIES])
def test_a_hostile_body_is_refused(world, operation, body):
    with nothing_written():
        response = send(world, operation, body, HTTP_IDEMPOTENCY_KEY="hostile-body")

    assert_api_answer(response, status=400)


@pytest.mark.parametrize("operation", OPERATIONS, ids=OPERATION_IDS)
@pytest.mark.parametrize("body", [b for _, b in WRONG_SHAPES], ids=[i for i, _ in WRONG_SHAPES])
def test_a_body_of_the_wrong_shape_is_refused(world, operation, body):
    # An empty change is a valid PATCH: it changes nothing and answers the contact.
    allowed = (200, 400) if operation.method == "patch" else (400,)

    with nothing_written():
        response = send(world, operation, body)

    assert_api_answer(response, status=allowed)


@pytest.mark.parametrize("operation", OPERATIONS, ids=OPERATION_IDS)
@pytest.mark.parametrize(
    "content_type", [c for _, c in CONTENT_TYPES], ids=[i for i, _ in CONTENT_TYPES]
)
def test_a_deep_body_in_any_content_type_is_refused(world, operation, content_type):
    with nothing_written():
        response = send(world, operation, nested(DEPTH), content_type)

    assert_api_answer(response, status=(400, 415))


@pytest.mark.parametrize(("name", "url"), NO_BODY, ids=[n for n, _ in NO_BODY])
@pytest.mark.parametrize("body", [b for _, b in HOSTILE_BODIES], ids=[i for i, _ in HOSTILE_BODIES])
def test_a_hostile_body_with_an_idempotency_key_on_a_bodiless_write(world, name, url, body):
    # Without a key the body of these is never read; with one it is part of the
    # request's fingerprint, so it must parse.
    path = url.format(invitation=world.invitation.pk, campaign=world.campaign.pk)

    with nothing_written():
        response = world.client.post(
            path, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="hostile"
        )

    assert_api_answer(response, status=400)


def test_a_body_over_one_mebibyte_is_413(world):
    body = b'{"phone": "' + b"1" * (1024 * 1024) + b'"}'

    with nothing_written():
        response = world.client.post("/api/v1/contacts/", body, content_type="application/json")

    assert_api_answer(response, status=413)


# --- Queries × list filters ------------------------------------------------------------------

QUERIES = [
    ("eligibility", "/api/v1/eligibility/?purpose=marketing&", ("phone", "whatsapp_user_id")),
    ("eligibility-purpose", "/api/v1/eligibility/?phone=%2B447911123456&", ("purpose",)),
    ("contacts", "/api/v1/contacts/?", ("phone", "tag", "marketing", "service", "page_size")),
    ("consent-events", "/api/v1/consent-events/?", ("phone", "contact", "purpose")),
    ("notices", "/api/v1/notices/?", ("purpose", "language")),
    ("campaigns", "/api/v1/campaigns/?", ("status", "kind", "purpose")),
    ("groups", "/api/v1/groups/?", ("page_size",)),
]

QUERY_CASES = [
    pytest.param(url, name, value, id=f"{list_id}-{name}-{value_id}")
    for list_id, url, names in QUERIES
    for name in names
    for value_id, value in QUERY_STRINGS
]


@pytest.mark.parametrize(("url", "name", "value"), QUERY_CASES)
def test_a_hostile_query_parameter(world, url, name, value):
    with nothing_written():
        response = world.client.get(f"{url}{name}={value}")

    # A filter that cannot match answers 400 naming it, or an empty page; eligibility
    # answers any phone as a row (`invalid_phone`).
    body = assert_api_answer(response, status=(200, 400))
    if body is not None:
        assert any(
            error["attr"] in (name, None) or (error["attr"] or "").startswith(name)
            for error in body["errors"]
        ), body
