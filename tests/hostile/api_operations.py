"""Every API operation that takes a body, its fields, and how to put a value into one."""

import json
from dataclasses import dataclass, field
from typing import Any

from tests.hostile.conftest import World

KEY = "__KEY__"  # a field path ending in this puts the value in a key, not a value


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    # Built from the world, since ids are only known once it exists.
    url: str
    base: dict[str, Any]
    fields: tuple[str, ...]
    # Statuses a refused value may get; a few fields are questions, not storage.
    allowed: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def path(self, world: World) -> str:
        return self.url.format(
            ada=world.ada.pk,
            group=world.group.pk,
            invitation=world.invitation.pk,
            campaign=world.campaign.pk,
        )


EVIDENCE = ("ip", "user_agent", "page_url", "wamid", "prompted_by_wamid", "note")

OPERATIONS = [
    Operation(
        "contacts-upsert",
        "post",
        "/api/v1/contacts/",
        {"phone": "+447911123999", "name": "Eve"},
        (
            "phone",
            "name",
            "language",
            "external_id",
            "tags.0",
            "attributes.city",
            f"attributes.{KEY}",
            "attributes.address.street",
        ),
    ),
    Operation(
        "contacts-change",
        "patch",
        "/api/v1/contacts/{ada}/",
        {"name": "Ada L."},
        (
            "name",
            "language",
            "external_id",
            "tags.0",
            "attributes.city",
            f"attributes.{KEY}",
            "attributes.list.0",
        ),
    ),
    Operation(
        "consent-events-record",
        "post",
        "/api/v1/consent-events/",
        {
            "phone": "+447911123999",
            "purpose": "marketing",
            "action": "grant",
            "notice": "marketing/en/1",
            "evidence": {"ip": "203.0.113.9"},
        },
        (
            "phone",
            "whatsapp_user_id",
            "purpose",
            "action",
            "source",
            "notice",
            "occurred_at",
            "expires_at",
            "paused_until",
            *(f"evidence.{name}" for name in EVIDENCE),
        ),
    ),
    Operation(
        "eligibility-bulk",
        "post",
        "/api/v1/eligibility/bulk/",
        {"purpose": "marketing", "phones": ["+447911123456"]},
        ("purpose", "phones.0", "phones.1"),
        # A phone is a question here: NUL answers as an invalid_phone row.
        allowed={"phones.0": (200, 400), "phones.1": (200, 400)},
    ),
    Operation(
        "groups-create",
        "post",
        "/api/v1/groups/",
        {"name": "Book club"},
        ("name", "description", "purpose", "capacity"),
    ),
    Operation(
        "groups-invite",
        "post",
        "/api/v1/groups/{group}/invitations/",
        {"phone": "+447911123456"},
        ("phone",),
    ),
    Operation(
        "invitations-respond",
        "post",
        "/api/v1/invitations/{invitation}/respond/",
        {"answer": "accept"},
        (
            "answer",
            "source",
            *(f"evidence.{name}" for name in EVIDENCE if name != "prompted_by_wamid"),
        ),
    ),
]

# Writes that take no body: only the path and an Idempotency-Key reach them.
NO_BODY = [
    ("invitations-revoke", "/api/v1/invitations/{invitation}/revoke/"),
    ("invitations-leave", "/api/v1/invitations/{invitation}/leave/"),
    ("campaigns-launch", "/api/v1/campaigns/{campaign}/launch/"),
]

PLACEHOLDER = "__VALUE__"


def put(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `body` with `value` at `path` ("evidence.note", "tags.0", "attributes.__KEY__")."""
    body = json.loads(json.dumps(body))
    parts = path.split(".")
    here: Any = body
    for index, part in enumerate(parts[:-1]):
        following = parts[index + 1]
        empty: Any = [] if following.isdigit() else {}
        if isinstance(here, list):
            here.append(empty)
            here = here[-1]
        else:
            here = here.setdefault(part, empty)
    last = parts[-1]
    if last == KEY:
        here[value] = "x"
    elif isinstance(here, list):
        if int(last) < len(here):
            here[int(last)] = value
        else:
            here.append(value)
    else:
        here[last] = value
    return body


def field_name(path: str) -> str:
    """The attr a refusal names: the field, or the field and where inside it."""
    head = path.split(".", 1)[0]
    if head == "evidence":
        return ".".join(path.split(".")[:2])
    return head


def raw_body(body: dict[str, Any], path: str, literal: str) -> bytes:
    """`body` as JSON with the raw JSON `literal` (1e999, NaN…) at `path`."""
    return json.dumps(put(body, path, PLACEHOLDER)).replace(f'"{PLACEHOLDER}"', literal).encode()


def encode(body: Any) -> bytes:
    # ensure_ascii writes a lone surrogate as the escape a client would send.
    return json.dumps(body, ensure_ascii=True).encode()
