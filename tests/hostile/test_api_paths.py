"""Paths × routes: every route that names an object, with an id that names nothing.

A NUL, bytes that are not UTF-8, a traversal or a 3,000-character id is a 404 (or
405) in the JSON shape; a POST with an Idempotency-Key stores nothing it cannot.
"""

import pytest

from tests.hostile.conftest import assert_api_answer, nothing_written
from tests.hostile.values import PATH_SEGMENTS

pytestmark = pytest.mark.django_db

ROUTES = [
    ("get", "/api/v1/contacts/{}/"),
    ("patch", "/api/v1/contacts/{}/"),
    ("delete", "/api/v1/contacts/{}/"),
    ("get", "/api/v1/contacts/{}/proof/"),
    ("get", "/api/v1/consent-events/{}/"),
    ("get", "/api/v1/groups/{}/"),
    ("get", "/api/v1/groups/{}/members/"),
    ("post", "/api/v1/groups/{}/invitations/"),
    ("get", "/api/v1/invitations/{}/"),
    ("post", "/api/v1/invitations/{}/revoke/"),
    ("post", "/api/v1/invitations/{}/respond/"),
    ("post", "/api/v1/invitations/{}/leave/"),
    ("get", "/api/v1/campaigns/{}/"),
    ("post", "/api/v1/campaigns/{}/launch/"),
]

CASES = [
    pytest.param(
        method, route, segment, id=f"{method}-{route.strip('/').replace('/', '-')}-{seg_id}"
    )
    for method, route in ROUTES
    for seg_id, segment in PATH_SEGMENTS
]


@pytest.mark.parametrize(("method", "route", "segment"), CASES)
def test_a_hostile_id_in_a_path(world, method, route, segment):
    headers = {"HTTP_IDEMPOTENCY_KEY": "hostile-path"} if method == "post" else {}
    body = (
        b'{"phone": "+447911123456", "answer": "accept"}' if method in ("post", "patch") else None
    )
    send = getattr(world.client, method)

    with nothing_written():
        if body is None:
            response = send(route.format(segment))
        else:
            response = send(route.format(segment), body, content_type="application/json", **headers)

    assert_api_answer(response, status=(400, 404, 405))
