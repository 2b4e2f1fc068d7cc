"""Strings × fields and numbers × fields, for every API operation that takes a body.

A value no column can hold (NUL, a lone surrogate) or no JSON column takes (NaN,
1e999, a 5,000-digit integer) is refused with 400 naming the field, writes nothing,
and, sent with an Idempotency-Key, is answered the same way again on a retry.
"""

import itertools

import pytest

from tests.hostile.api_operations import (
    KEY,
    OPERATIONS,
    encode,
    field_name,
    put,
    raw_body,
)
from tests.hostile.conftest import assert_api_answer, nothing_written
from tests.hostile.values import HOSTILE_NUMBERS, UNSTORABLE_STRINGS

pytestmark = pytest.mark.django_db

STRING_CASES = [
    pytest.param(operation, path, value, id=f"{operation.name}-{path}-{value_id}")
    for operation in OPERATIONS
    for path in operation.fields
    for value_id, value in UNSTORABLE_STRINGS
]


@pytest.mark.parametrize(("operation", "path", "value"), STRING_CASES)
def test_an_unstorable_string_is_refused_naming_the_field(world, operation, path, value):
    body = encode(put(operation.base, path, value))
    send = getattr(world.client, operation.method)
    url = operation.path(world)
    key = {"HTTP_IDEMPOTENCY_KEY": f"hostile-{path}"}
    statuses = operation.allowed.get(path, (400,))

    with nothing_written():
        first = send(url, body, content_type="application/json", **key)
        assert_api_answer(
            first, status=statuses, attr=None if 200 in statuses else field_name(path)
        )
        again = send(url, body, content_type="application/json", **key)

    # The refusal was kept for the key: the retry gets it again, not a 409 or a 500.
    assert again.status_code == first.status_code, again.content[:300]
    assert again.json() == first.json()


# Every field with one of the numbers in turn, and every number on each operation's
# first field: each field and each number meets the parser at least once.
NUMBER_CASES = [
    pytest.param(operation, path, literal, id=f"{operation.name}-{path}-{number_id}")
    for operation in OPERATIONS
    for path, (number_id, literal) in zip(
        [p for p in operation.fields if KEY not in p],
        itertools.cycle(HOSTILE_NUMBERS),
        strict=False,
    )
] + [
    pytest.param(operation, operation.fields[0], literal, id=f"{operation.name}-all-{number_id}")
    for operation in OPERATIONS
    for number_id, literal in HOSTILE_NUMBERS
]


@pytest.mark.parametrize(("operation", "path", "literal"), NUMBER_CASES)
def test_a_number_json_cannot_keep_is_refused_naming_the_field(world, operation, path, literal):
    body = raw_body(operation.base, path, literal)
    send = getattr(world.client, operation.method)

    with nothing_written():
        response = send(operation.path(world), body, content_type="application/json")

    assert_api_answer(response, status=400, attr=field_name(path))
