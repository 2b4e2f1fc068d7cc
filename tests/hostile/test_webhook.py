"""Hostile deliveries to POST /webhooks/whatsapp/, signed and unsigned.

A missing or wrong signature → 403 and nothing stored; a valid
one → 200, stored once. Whatever a signed delivery holds (NUL, a lone surrogate, NaN,
1e999, a 5,000-digit number, the wrong types, 3,000 levels of nesting, bytes that are
not UTF-8), the answer is never a 5xx and the ledger still verifies.
"""

import copy
import json

import pytest

from tests.hostile.conftest import assert_ledger_verifies, nothing_written
from tests.hostile.values import DEPTH, nested
from tests.whatsapp.helpers import URL, load_payload, sign

pytestmark = pytest.mark.django_db

SECRET = "test-app-secret"


def stop(**message) -> dict:
    payload = copy.deepcopy(load_payload("text_stop"))
    payload["entry"][0]["changes"][0]["value"]["messages"][0].update(message)
    return payload


def value_with(**fields) -> dict:
    payload = copy.deepcopy(load_payload("text_stop"))
    payload["entry"][0]["changes"][0]["value"].update(fields)
    return payload


def as_json(payload) -> bytes:
    return json.dumps(payload, ensure_ascii=True).encode()


def with_literal(payload: dict, key: str, literal: str) -> bytes:
    """The payload with the first message's `key` set to a raw JSON literal."""
    marker = "__HOSTILE__"
    return as_json(stop(**{key: marker})).replace(f'"{marker}"'.encode(), literal.encode())


DELIVERIES: list[tuple[str, bytes]] = [
    ("text-with-nul", as_json(stop(text={"body": "ST\x00OP"}))),
    ("text-lone-surrogate", as_json(stop(text={"body": "\ud800"}))),
    ("text-nul-only", as_json(stop(text={"body": "\x00"}))),
    ("from-with-nul", as_json(stop(**{"from": "4479111\x0023456"}))),
    ("wamid-with-nul", as_json(stop(id="wamid.\x00"))),
    ("wamid-lone-surrogate", as_json(stop(id="wamid.\udfff"))),
    ("key-with-nul", as_json(value_with(**{"mes\x00sages": [{"id": "x"}]}))),
    ("timestamp-nan", with_literal({}, "timestamp", "NaN")),
    ("timestamp-1e999", with_literal({}, "timestamp", "1e999")),
    ("timestamp-minus-1e999", with_literal({}, "timestamp", "-1e999")),
    ("timestamp-5000-digits", with_literal({}, "timestamp", "9" * 5000)),
    ("timestamp-not-a-number", as_json(stop(timestamp="yesterday"))),
    ("timestamp-year-10000", as_json(stop(timestamp="253402300800"))),
    ("timestamp-negative", as_json(stop(timestamp="-62135596801"))),
    ("text-is-a-string", as_json(stop(text="STOP"))),
    ("text-body-is-a-number", as_json(stop(text={"body": 1e308}))),
    ("type-is-a-list", as_json(stop(type=["text"]))),
    ("messages-is-a-string", as_json(value_with(messages="x"))),
    ("messages-holds-null", as_json(value_with(messages=[None]))),
    ("contacts-is-an-object", as_json(value_with(contacts={"wa_id": "1"}))),
    ("statuses-wrong-types", as_json(value_with(statuses=[{"id": 1, "status": ["read"]}]))),
    ("entry-is-a-string", as_json({"object": "whatsapp_business_account", "entry": "x"})),
    (
        "changes-is-an-object",
        as_json({"object": "whatsapp_business_account", "entry": [{"changes": {}}]}),
    ),
    ("nested-3000", nested(DEPTH)),
    (
        "nested-in-value-3000",
        b'{"object":"whatsapp_business_account","entry":' + nested(DEPTH) + b"}",
    ),
    ("not-utf8", b'{"object": "\xff\xfe"}'),
    ("not-json", b"STOP"),
    ("empty", b""),
    ("null", b"null"),
]


@pytest.mark.parametrize("body", [b for _, b in DELIVERIES], ids=[i for i, _ in DELIVERIES])
def test_a_signed_hostile_delivery_is_never_a_server_error(
    world, client, body, settings, django_capture_on_commit_callbacks
):
    settings.WHATSAPP_APP_SECRET = SECRET

    # The processing enqueued on commit runs too (eager Celery): stored, then read.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            URL,
            data=body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=sign(body, SECRET),
        )

    assert response.status_code < 500, response.content[:300]
    assert_ledger_verifies()


@pytest.mark.parametrize("body", [b for _, b in DELIVERIES], ids=[i for i, _ in DELIVERIES])
@pytest.mark.parametrize("signature", ["missing", "wrong"])
def test_an_unsigned_hostile_delivery_is_403_and_stores_nothing(
    world, client, body, signature, settings
):
    settings.WHATSAPP_APP_SECRET = SECRET
    headers = (
        {} if signature == "missing" else {"HTTP_X_HUB_SIGNATURE_256": sign(body, "not-the-secret")}
    )

    with nothing_written():
        response = client.post(URL, data=body, content_type="application/json", **headers)

    assert response.status_code == 403
