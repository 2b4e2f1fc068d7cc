"""Building, signing and posting Meta webhook payloads in tests."""

import copy
import hashlib
import hmac
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from django.test import Client

PAYLOADS = Path(__file__).parent / "payloads"
SECRET = "test-app-secret"
URL = "/webhooks/whatsapp/"
ADA_WA_ID = "447911123456"


def load_payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def value_of(payload: dict) -> dict:
    return payload["entry"][0]["changes"][0]["value"]


def first_message(payload: dict) -> dict:
    return value_of(payload)["messages"][0]


def with_message(name: str, *, at: datetime | None = None, **fields: Any) -> dict:
    """A fixture with its first message changed (id, timestamp, text body, …)."""
    payload = copy.deepcopy(load_payload(name))
    item = value_of(payload).get("messages", value_of(payload).get("statuses"))[0]
    if at is not None:
        item["timestamp"] = str(int(at.timestamp()))
    for key, value in fields.items():
        if key == "body":
            item["text"]["body"] = value
        elif key == "button_id":
            item.setdefault("interactive", {}).setdefault("button_reply", {})["id"] = value
        elif key == "context":
            item["context"] = {"from": "15550783881", "id": value}
        else:
            item[key] = value
    return payload


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: dict | bytes) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def post_webhook(client: Client, payload: dict | bytes, *, signature: str | None = "auto", **kw):
    body = encode(payload)
    headers = {}
    if signature == "auto":
        signature = sign(body)
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return client.post(URL, data=body, content_type="application/json", headers=headers, **kw)
