"""From Meta's webhook bodies to stored items, and from a stored item to a typed event.

A delivery (`object` / `entry[]` / `changes[]` / `value`) may carry several
messages, statuses and preference changes. `split_delivery` cuts it into one
single-item update per message / status / preference, each still in Meta's own
shape (with the sender's `contacts[]` entry), which is what gets stored and
what a re-run reads.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .events import (
    CallPermissionReply,
    GroupLifecycleEvent,
    GroupParticipantsEvent,
    IdentityUpdate,
    InboundMessage,
    StatusUpdate,
    TemplateUpdate,
    UserPreference,
)

MESSAGE, STATUS, USER_PREFERENCE, IDENTITY_UPDATE, GROUP, OTHER = (
    "message",
    "status",
    "user_preference",
    "identity_update",
    "group_participants",
    "other",
)
# group_lifecycle_update: a group we asked for was created (with its id and invite link).
GROUP_LIFECYCLE = "group_lifecycle"
# A template's status, quality or category changed (the value is the whole item).
TEMPLATE_UPDATE = "template_update"
# A business number's quality event or messaging limit changed.
NUMBER_UPDATE = "number_update"
TEMPLATE_FIELDS = frozenset(
    {
        "message_template_status_update",
        "message_template_quality_update",
        "template_category_update",
    }
)


@dataclass(frozen=True)
class Item:
    kind: str
    dedupe_key: str
    wamid: str
    payload: dict[str, Any]
    # Who it came from (the wa_id, the business-scoped user id), "" when nobody.
    sender: str = ""
    sender_user_id: str = ""


def _id(*values: Any) -> str:
    """The first present identifier, as text (ids are strings; a number is kept as digits)."""
    for value in values:
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)[:128]
    return ""


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _single(
    data: dict, entry: dict, change: dict, value: dict, key: str, item: dict, contact: Any
) -> dict:
    one = {k: v for k, v in value.items() if not isinstance(v, list)}
    if contact is not None:
        one["contacts"] = [contact]
    one[key] = [item]
    return {
        "object": data.get("object"),
        "entry": [
            {"id": entry.get("id"), "changes": [{"field": change.get("field"), "value": one}]}
        ],
    }


def _sender_contact(contacts: list[dict], index: int, wa_id: Any, user_id: Any) -> dict | None:
    for contact in contacts:
        if (wa_id and contact.get("wa_id") == wa_id) or (
            user_id and contact.get("user_id") == user_id
        ):
            return contact
    if len(contacts) == 1:
        return contacts[0]
    if index < len(contacts):
        return contacts[index]
    if wa_id or user_id:
        return {"wa_id": wa_id, "user_id": user_id}
    return None


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def split_delivery(data: Any) -> list[Item]:
    """One Item per message, status, preference change or unknown change of a delivery.

    Whatever the shape: a neighbour of the wrong type becomes an `other` item
    of its own and never hides the items beside it.
    """
    items: list[Item] = []
    if not isinstance(data, dict):
        return [Item(OTHER, f"other:{_digest(data)}", "", {"body": data})]
    for entry in _list(data.get("entry")):
        if not isinstance(entry, dict):
            items.append(Item(OTHER, f"other:{_digest(entry)}", "", {"entry": entry}))
            continue
        for change in _list(entry.get("changes")):
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                items.append(Item(OTHER, f"other:{_digest(change)}", "", {"change": change}))
                continue
            items.extend(_split_value(data, entry, change, value))
    if not items:
        items.append(Item(OTHER, f"other:{_digest(data)}", "", data))
    return items


def _preference_items(
    data: dict, entry: dict, change: dict, value: dict, contacts: list[dict]
) -> list[Item]:
    items: list[Item] = []
    prefs = (p for p in _list(value.get("user_preferences")) if isinstance(p, dict))
    for i, pref in enumerate(prefs):
        contact = _sender_contact(contacts, i, pref.get("wa_id"), pref.get("user_id"))
        payload = _single(data, entry, change, value, "user_preferences", pref, contact)
        who = pref.get("wa_id") or pref.get("user_id") or (contact or {}).get("wa_id")
        key = f"user_preference:{who}:{pref.get('category')}:{pref.get('value')}"
        sender = _id(pref.get("wa_id"), (contact or {}).get("wa_id"))
        user_id = _id(pref.get("user_id"), (contact or {}).get("user_id"))
        key = f"{key}:{pref.get('timestamp')}"
        items.append(Item(USER_PREFERENCE, key, "", payload, sender, user_id))
    return items


def _split_value(data: dict, entry: dict, change: dict, value: dict) -> list[Item]:
    items: list[Item] = []
    contacts = [c for c in _list(value.get("contacts")) if isinstance(c, dict)]
    known = False
    for key in ("messages", "statuses", "user_preferences"):
        for odd in (x for x in _list(value.get(key)) if not isinstance(x, dict)):
            known = True
            items.append(Item(OTHER, f"other:{key}:{_digest(odd)}", "", {key: odd}))
    for i, msg in enumerate(m for m in _list(value.get("messages")) if isinstance(m, dict)):
        known = True
        contact = _sender_contact(contacts, i, msg.get("from"), msg.get("from_user_id"))
        payload = _single(data, entry, change, value, "messages", msg, contact)
        sender = _id(msg.get("from"), (contact or {}).get("wa_id"))
        user_id = _id(msg.get("from_user_id"), (contact or {}).get("user_id"))
        key, wamid = f"message:{msg.get('id')}", str(msg.get("id", ""))
        items.append(Item(MESSAGE, key, wamid, payload, sender, user_id))
    for i, status in enumerate(s for s in _list(value.get("statuses")) if isinstance(s, dict)):
        known = True
        contact = _sender_contact(
            contacts, i, status.get("recipient_id"), status.get("recipient_user_id")
        )
        payload = _single(data, entry, change, value, "statuses", status, contact)
        wamid = str(status.get("id", ""))
        key = f"status:{wamid}:{status.get('status')}"
        sender = _id(status.get("recipient_id"), (contact or {}).get("wa_id"))
        user_id = _id(status.get("recipient_user_id"), (contact or {}).get("user_id"))
        items.append(Item(STATUS, key, wamid, payload, sender, user_id))
    preferences = _preference_items(data, entry, change, value, contacts)
    known = known or bool(preferences)
    items.extend(preferences)
    for update in (u for u in _list(value.get("user_id_update")) if isinstance(u, dict)):
        known = True
        payload = _single(data, entry, change, value, "user_id_update", update, None)
        key = f"identity_update:{_digest(update)}"
        ids = update.get("user_id")
        ids = ids if isinstance(ids, dict) else {}
        user_id = _id(ids.get("previous"), ids.get("current"))
        items.append(Item(IDENTITY_UPDATE, key, "", payload, _id(update.get("wa_id")), user_id))
    if str(change.get("field", "")).startswith("group_participants"):
        for group in _list(value.get("groups")):
            known = True
            payload = _single(data, entry, change, value, "groups", group, None)
            key = f"group_participants:{_digest(group)}"
            sender, user_id = _group_participant(group)
            items.append(Item(GROUP, key, "", payload, sender, user_id))
    whole = _whole_change_items(data, entry, change, value)
    known = known or bool(whole)
    items.extend(whole)
    if not known:
        single = {
            "object": data.get("object"),
            "entry": [{"id": entry.get("id"), "changes": [change]}],
        }
        items.append(Item(OTHER, f"other:{_digest(change)}", "", single))
    return items


def _whole_change_items(data: dict, entry: dict, change: dict, value: dict) -> list[Item]:
    """Items of changes read whole: groups we asked for, templates, business numbers."""
    if change.get("field") == "group_lifecycle_update":
        return split_group_lifecycle(data, entry, change, value)
    platform = _account_update(data, entry, change)
    return [platform] if platform else []


def _account_update(data: dict, entry: dict, change: dict) -> Item | None:
    """A template's or a business number's change: the whole change is the item."""
    field = change.get("field")
    kind = (
        TEMPLATE_UPDATE
        if field in TEMPLATE_FIELDS
        else NUMBER_UPDATE
        if field == "phone_number_quality_update"
        else None
    )
    if kind is None:
        return None
    single = {
        "object": data.get("object"),
        "entry": [{"id": entry.get("id"), "time": entry.get("time"), "changes": [change]}],
    }
    return Item(kind, f"{kind}:{_digest(single)}", "", single)


def _group_participant(group: Any) -> tuple[str, str]:
    """The person a group participants item is about (the first one named), if any."""
    if not isinstance(group, dict):
        return "", ""
    people = [
        p
        for key in ("join_requests", "added_participants", "removed_participants", "participants")
        for p in _list(group.get(key))
        if isinstance(p, dict)
    ]
    first = people[0] if people else group
    return _id(first.get("wa_id")), _id(first.get("user_id"))


# Phone-like digit runs and business-scoped user ids ("US.13491208655302741918"), as
# they may appear in a body that is not readable as a delivery.
_LOOSE_IDS = re.compile(rb"(?<![0-9])[0-9]{6,20}(?![0-9])|\b[A-Z]{2}\.[0-9A-Za-z]{6,64}")
_MAX_LOOSE_IDS = 50


def loose_identifiers(body: bytes) -> str:
    """Every id-like token in unreadable bytes, space-separated and bounded (for `sender`).

    Such a body may hold a STOP: the sends to anyone it may name wait for staff.
    """
    found = dict.fromkeys(m.decode("ascii") for m in _LOOSE_IDS.findall(body[: 1024 * 1024]))
    return " ".join(list(found)[:_MAX_LOOSE_IDS])


def sender_of(kind: str, payload: Any) -> tuple[str, str]:
    """(wa_id, user id) of a stored single-item update, as `split_delivery` sets them."""
    try:
        items = split_delivery(payload)
    except Exception:
        return "", ""
    return (items[0].sender, items[0].sender_user_id) if len(items) == 1 else ("", "")


# --- Stored item → typed event --------------------------------------------------
#
# Read directly rather than with pywa 4.5's typed updates, for concrete reasons:
# `pywa.types.user.User.from_contact` does `data["user_id"]` (KeyError for every
# contact without a business-scoped id: all payloads before 2026 and many now);
# `MessageStatus.from_update` needs `value.contacts[0]`, which Meta's status
# deliveries usually lack; each `from_update` reads only item 0 of a value; and
# there is no type for group participant webhooks. pywa still verifies the
# signature (`pywa.utils.webhook_updates_validator`) in the view.


def _value(payload: dict) -> dict:
    return payload["entry"][0]["changes"][0]["value"]


def _contact(payload: dict) -> dict:
    contacts = _value(payload).get("contacts") or [{}]
    return contacts[0] if isinstance(contacts[0], dict) else {}


def _timestamp(raw: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(raw), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def business_number_of(payload: Any) -> str:
    """The phone_number_id a stored item came through (value.metadata), or ""."""
    try:
        metadata = _value(payload).get("metadata") or {}
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""
    return _id(metadata.get("phone_number_id")) if isinstance(metadata, dict) else ""


def parse_event(kind: str, payload: dict):
    """The typed event for a stored single-item update (None for kinds nobody handles)."""
    if kind == MESSAGE:
        return parse_message(payload)
    if kind == STATUS:
        return parse_status(payload)
    if kind == USER_PREFERENCE:
        return parse_user_preference(payload)
    if kind == IDENTITY_UPDATE:
        return parse_identity_update(payload)
    if kind == GROUP:
        return parse_group_participants(payload)
    if kind == GROUP_LIFECYCLE:
        return parse_group_lifecycle(payload)
    if kind == TEMPLATE_UPDATE:
        return parse_template_update(payload)
    return None


def _button_id(msg: dict) -> tuple[str, str]:
    """(id, title) of a reply button, list row or template quick reply."""
    if msg.get("type") == "button":
        button = msg.get("button") or {}
        return str(button.get("payload") or ""), str(button.get("text") or "")
    interactive = msg.get("interactive") or {}
    reply = interactive.get(str(interactive.get("type") or "")) or {}
    if interactive.get("type") in ("button_reply", "list_reply") and isinstance(reply, dict):
        return str(reply.get("id") or ""), str(reply.get("title") or "")
    return "", ""


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


_CHANGED_FROM = re.compile(r"changed from (\S+) to \S+")


def _changed_from(body: Any) -> str | None:
    """The old id in a system message's text, the only place some shapes name it."""
    found = _CHANGED_FROM.search(body) if isinstance(body, str) else None
    return found.group(1) if found else None


def _call_permission(msg: dict) -> CallPermissionReply | None:
    """Meta's `interactive.call_permission_reply` (response, is_permanent,
    expiration_timestamp, response_source), or None for any other message."""
    raw = msg.get("interactive")
    interactive: dict[str, Any] = raw if isinstance(raw, dict) else {}
    reply = interactive.get("call_permission_reply")
    if interactive.get("type") != "call_permission_reply" or not isinstance(reply, dict):
        return None
    return CallPermissionReply(
        response=str(reply.get("response") or "").lower(),
        is_permanent=reply.get("is_permanent") is True,
        expires_at=_timestamp(reply.get("expiration_timestamp")),
        response_source=str(reply.get("response_source") or ""),
    )


def parse_message(payload: dict) -> InboundMessage:
    msg = _value(payload)["messages"][0]
    contact = _contact(payload)
    button_id, title = _button_id(msg)
    text = (msg.get("text") or {}).get("body") if msg.get("type") == "text" else title
    system = msg.get("system") if isinstance(msg.get("system"), dict) else {}
    raw_profile = contact.get("profile")
    profile = raw_profile if isinstance(raw_profile, dict) else {}
    return InboundMessage(
        wamid=str(msg["id"]),
        # Meta always sends it; "now" only for a broken item, which then sorts as newest.
        timestamp=_timestamp(msg.get("timestamp")) or datetime.now(UTC),
        wa_id=msg.get("from") or contact.get("wa_id") or None,
        user_id=msg.get("from_user_id") or contact.get("user_id") or None,
        parent_user_id=msg.get("from_parent_user_id") or contact.get("parent_user_id") or None,
        profile_name=str((contact.get("profile") or {}).get("name") or ""),
        type=str(msg.get("type") or ""),
        text=str(text or ""),
        button_id=button_id,
        context_wamid=str((msg.get("context") or {}).get("id") or ""),
        raw=payload,
        username=_text(profile.get("username") or msg.get("from_username")),
        group_id=_text(msg.get("group_id") or (msg.get("context") or {}).get("group_id")),
        system_type=str(system.get("type") or ""),
        new_wa_id=_text(system.get("wa_id") or system.get("new_wa_id")),
        new_user_id=_text(system.get("user_id") or system.get("new_user_id")),
        old_user_id=_text(msg.get("from_user_id")) or _changed_from(system.get("body")),
        call_permission=_call_permission(msg),
    )


def parse_status(payload: dict) -> StatusUpdate:
    status = _value(payload)["statuses"][0]
    errors = [
        (int(e.get("code", 0)), str(e.get("title") or e.get("message") or ""))
        for e in status.get("errors") or []
        if isinstance(e, dict)
    ]
    return StatusUpdate(
        wamid=str(status["id"]),
        status=str(status.get("status", "")),
        timestamp=_timestamp(status.get("timestamp")) or datetime.now(UTC),
        recipient_id=status.get("recipient_id") or None,
        errors=errors,
        raw=payload,
        recipient_user_id=status.get("recipient_user_id") or None,
    )


def parse_user_preference(payload: dict) -> UserPreference:
    pref = _value(payload)["user_preferences"][0]
    contact = _contact(payload)
    return UserPreference(
        wa_id=pref.get("wa_id") or contact.get("wa_id") or None,
        user_id=pref.get("user_id") or contact.get("user_id") or None,
        parent_user_id=pref.get("parent_user_id") or contact.get("parent_user_id") or None,
        profile_name=str((contact.get("profile") or {}).get("name") or ""),
        category=str(pref.get("category") or ""),
        value=str(pref.get("value") or "").lower(),
        detail=str(pref.get("detail") or ""),
        timestamp=_timestamp(pref.get("timestamp")) or datetime.now(UTC),
        raw=payload,
    )


def parse_identity_update(payload: dict) -> IdentityUpdate:
    update = _value(payload)["user_id_update"][0]
    user_id = update.get("user_id") if isinstance(update.get("user_id"), dict) else {}
    return IdentityUpdate(
        wa_id=_text(update.get("wa_id")),
        previous_user_id=_text(user_id.get("previous")),
        current_user_id=_text(user_id.get("current")),
        timestamp=_timestamp(update.get("timestamp")) or datetime.now(UTC),
        raw=payload,
    )


def _people(group: dict) -> tuple[tuple[str | None, str | None], ...]:
    named = [
        p
        for key in ("join_requests", "added_participants", "removed_participants", "participants")
        for p in _list(group.get(key))
        if isinstance(p, dict)
    ] or [group]
    people = ((_text(p.get("wa_id") or p.get("input")), _text(p.get("user_id"))) for p in named)
    return tuple(dict.fromkeys(p for p in people if p != (None, None)))


def parse_group_participants(payload: dict) -> GroupParticipantsEvent:
    """Meta's `group_participants_update` item: `type` (group_join_request_created /
    _revoked, group_participants_add / _remove), `group_id`, `timestamp`; a join request
    names the person (`wa_id`, `user_id`) and its `join_request_id` on the item itself,
    a change of participants lists them (`added_participants[]`, `removed_participants[]`)
    and a removal says who did it (`initiated_by`)."""
    group = _value(payload)["groups"][0]
    first: dict[str, Any] = next(
        iter(
            group.get("join_requests")
            or group.get("added_participants")
            or group.get("removed_participants")
            or group.get("participants")
            or [{}]
        ),
        {},
    )
    return GroupParticipantsEvent(
        group_id=str(group.get("group_id", "")),
        type=str(group.get("type", "")),
        timestamp=_timestamp(group.get("timestamp")),
        wa_id=first.get("wa_id") or group.get("wa_id"),
        user_id=first.get("user_id") or group.get("user_id"),
        request_id=str(
            first.get("join_request_id")
            or group.get("join_request_id")
            or group.get("request_id")
            or ""
        ),
        raw=payload,
        participants=_people(group),
        initiated_by=str(group.get("initiated_by") or "")[:32],
    )


# --- group_lifecycle_update ---------------------------------------------------------
# Meta's shape (Webhooks for Groups API): value.groups[] items with type
# group_create / group_delete, request_id (what POST /groups answered), group_id,
# subject, invite_link, join_approval_mode, timestamp; a failed creation carries
# errors[] instead of an invite link.


def split_group_lifecycle(data: dict, entry: dict, change: dict, value: dict) -> list[Item]:
    items = []
    for group in _list(value.get("groups")):
        if not isinstance(group, dict):
            items.append(Item(OTHER, f"other:groups:{_digest(group)}", "", {"groups": group}))
            continue
        payload = _single(data, entry, change, value, "groups", group, None)
        key = ":".join(
            str(group.get(k) or "") for k in ("type", "request_id", "group_id", "timestamp")
        )
        items.append(Item(GROUP_LIFECYCLE, f"group_lifecycle:{key}"[:400], "", payload))
    return items


def parse_group_lifecycle(payload: dict) -> GroupLifecycleEvent:
    group = _value(payload)["groups"][0]
    errors = [
        (_int(e.get("code")), str(e.get("title") or e.get("message") or ""))
        for e in _list(group.get("errors"))
        if isinstance(e, dict)
    ]
    return GroupLifecycleEvent(
        group_id=str(group.get("group_id") or ""),
        type=str(group.get("type") or ""),
        request_id=str(group.get("request_id") or ""),
        subject=str(group.get("subject") or ""),
        invite_link=str(group.get("invite_link") or ""),
        timestamp=_timestamp(group.get("timestamp")),
        errors=errors,
        raw=payload,
    )


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# --- Template webhooks ---------------------------------------------------------------
# Meta's shapes (webhooks reference, "message_template_status_update",
# "message_template_quality_update", "template_category_update"): value carries
# message_template_id / _name / _language and, per field, event + reason, previous /
# new_quality_score, or new_category with previous_category (done) or correct_category
# + category_update_timestamp (impending: then new_category is the *current* one).


def _upper(value: Any) -> str:
    return str(value).upper() if isinstance(value, str) and value else ""


def parse_template_update(payload: dict) -> TemplateUpdate:
    entry = payload["entry"][0]
    change = entry["changes"][0]
    value = change.get("value") or {}
    field_name = str(change.get("field") or "")
    upcoming = _upper(value.get("correct_category"))
    return TemplateUpdate(
        webhook_field=field_name,
        waba_id=_id(entry.get("id")),
        template_id=_id(value.get("message_template_id")),
        name=str(value.get("message_template_name") or ""),
        language=str(value.get("message_template_language") or ""),
        status=_upper(value.get("event")),
        reason=str(value.get("reason") or "") if value.get("reason") not in (None, "NONE") else "",
        category=_upper(value.get("new_category") or value.get("message_template_category")),
        previous_category=_upper(value.get("previous_category")),
        upcoming_category=upcoming,
        upcoming_category_at=_timestamp(value.get("category_update_timestamp")),
        quality=_upper(value.get("new_quality_score")),
        timestamp=_timestamp(entry.get("time")) or datetime.now(UTC),
        raw=payload,
    )
