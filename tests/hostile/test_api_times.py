"""Times × filters, times × time fields, and cursors × lists.

An instant with no UTC (`0001-01-01T00:00:00+14:00`), an offset PostgreSQL refuses
(`+23:59`) or something that is not a time: a filter answers 400 naming it, a body
field 400 naming it, a cursor 404 `Invalid cursor` or a page; never 500.
"""

import base64
from urllib.parse import quote, urlencode

import pytest

from tests.hostile.conftest import assert_api_answer, nothing_written
from tests.hostile.values import HOSTILE_TIMES

pytestmark = pytest.mark.django_db

FILTERS = [
    ("contacts-updated_since", "/api/v1/contacts/", "updated_since"),
    ("consent-events-since", "/api/v1/consent-events/", "since"),
]

# A valid instant, only written oddly: the filter compares it in UTC.
VALID_INSTANTS = {"offset-plus-23-59", "offset-minus-23-59"}


@pytest.mark.parametrize(
    ("filter_id", "url", "name"), [f[0:3] for f in FILTERS], ids=[f[0] for f in FILTERS]
)
@pytest.mark.parametrize(
    ("value"), [v for _, v in HOSTILE_TIMES], ids=[i for i, _ in HOSTILE_TIMES]
)
def test_a_hostile_time_in_a_filter(world, filter_id, url, name, value):
    with nothing_written():
        response = world.client.get(f"{url}?{name}={quote(value, safe='')}")

    valid = any(v == value for i, v in HOSTILE_TIMES if i in VALID_INSTANTS)
    assert_api_answer(response, status=200 if valid else 400, attr=None if valid else name)


# The body's times, each with an action that reads it. Only values that must be
# refused: a valid instant in an odd offset is a valid instant.
TIME_FIELDS = [
    ("occurred_at", {"action": "grant", "notice": "marketing/en/1"}),
    ("expires_at", {"action": "legacy"}),
    ("paused_until", {"action": "pause"}),
]
REFUSED_TIMES = [(i, v) for i, v in HOSTILE_TIMES if i not in VALID_INSTANTS]


@pytest.mark.parametrize(("name", "extra"), TIME_FIELDS, ids=[n for n, _ in TIME_FIELDS])
@pytest.mark.parametrize("value", [v for _, v in REFUSED_TIMES], ids=[i for i, _ in REFUSED_TIMES])
def test_a_hostile_time_in_a_consent_event(world, name, extra, value):
    body = {"phone": str(world.ada.phone), "purpose": "marketing", **extra, name: value}

    with nothing_written():
        response = world.client.post("/api/v1/consent-events/", body, format="json")

    assert_api_answer(response, status=400, attr=name)


# --- Cursors ------------------------------------------------------------------------------


def cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


def position(moment: str, offset: str = "") -> str:
    return cursor(urlencode({"p": moment, **({"o": offset} if offset else {})}))


CURSORS = [
    ("position-plus-23-59", position("2026-01-01 00:00:00+23:59")),
    ("position-minus-23-59", position("2026-01-01 00:00:00-23:59")),
    ("position-year-1-plus-14", position("0001-01-01 00:00:00+14:00")),
    ("position-year-9999-minus-14", position("9999-12-31 23:59:59-14:00")),
    ("position-nul", position("2026-01-01\x00")),
    ("position-not-a-time", position("yesterday")),
    ("offset-huge", cursor("o=" + "9" * 50)),
    ("reverse-5000-digits", cursor("r=" + "1" * 5000)),
    ("not-base64", "%%%"),
    ("not-ascii", "%C3%A9t%C3%A9"),
    ("base64-of-binary", base64.b64encode(b"\xff\x00\xfe").decode()),
]

LISTS = [
    ("contacts", "/api/v1/contacts/"),
    ("consent-events", "/api/v1/consent-events/"),
    ("notices", "/api/v1/notices/"),
    ("groups", "/api/v1/groups/"),
    ("campaigns", "/api/v1/campaigns/"),
    ("group-members", "/api/v1/groups/{group}/members/"),
]


@pytest.mark.parametrize(("list_id", "url"), LISTS, ids=[i for i, _ in LISTS])
@pytest.mark.parametrize("value", [v for _, v in CURSORS], ids=[i for i, _ in CURSORS])
def test_a_hostile_cursor(world, list_id, url, value):
    encoded = value if "%" in value else quote(value, safe="")

    with nothing_written():
        response = world.client.get(f"{url.format(group=world.group.pk)}?cursor={encoded}")

    assert_api_answer(response, status=(200, 404))
