"""Cloud API message bodies, checked against the platform's rules before anything is queued.

Each builder returns the exact JSON for `POST /{phone_number_id}/messages`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from . import exceptions as exc
from .addressing import Address
from .models import ServiceWindow

SERVICE_WINDOW = timedelta(hours=24)
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_INTERACTIVE_BODY = 1024
MAX_FOOTER = 60
MAX_TEXT_BODY = 4096
MAX_QUICK_REPLIES = 10
OUTSIDE_WINDOW = 131047


def in_service_window(address: Address | Iterable[str], *, at: datetime | None = None) -> bool:
    """Has this person written to us in the last 24 hours (from any of their ids)?"""
    keys = list(address.keys if isinstance(address, Address) else address)
    if not keys:
        return False
    at = at or timezone.now()
    return ServiceWindow.objects.filter(
        recipient__in=keys, last_inbound_at__gt=at - SERVICE_WINDOW
    ).exists()


def open_windows(keys: Iterable[str], *, at: datetime | None = None) -> set[str]:
    """Which of these ids wrote to us in the last 24 hours (one query for a whole batch)."""
    keys = list(dict.fromkeys(k for k in keys if k))
    if not keys:
        return set()
    at = at or timezone.now()
    return set(
        ServiceWindow.objects.filter(
            recipient__in=keys, last_inbound_at__gt=at - SERVICE_WINDOW
        ).values_list("recipient", flat=True)
    )


def require_window(address: Address) -> None:
    if not in_service_window(address):
        raise exc.OutsideServiceWindow(
            "free-form messages are allowed only within 24 hours of the person's last "
            "message; send a template instead",
            code=OUTSIDE_WINDOW,
        )


def _envelope(address: Address, message_type: str) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        **address.as_payload(),
        "type": message_type,
    }


def text(address: Address, body: str) -> dict[str, Any]:
    if not body.strip() or len(body) > MAX_TEXT_BODY:
        raise exc.InvalidMessage(f"a text message has 1 to {MAX_TEXT_BODY} characters")
    payload = _envelope(address, "text")
    payload["text"] = {"preview_url": False, "body": body}
    return payload


def _check_buttons(buttons: Sequence[tuple[str, str]]) -> None:
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        raise exc.InvalidMessage(f"an interactive message has 1 to {MAX_BUTTONS} reply buttons")
    ids = [b[0] for b in buttons]
    titles = [b[1] for b in buttons]
    if len(set(ids)) != len(ids):
        raise exc.InvalidMessage("reply button ids must be unique")
    if len({t.strip().casefold() for t in titles}) != len(titles):
        raise exc.InvalidMessage("reply button titles must be unique")
    for button_id, title in buttons:
        if not button_id or len(button_id) > MAX_BUTTON_ID:
            raise exc.InvalidMessage(f"a reply button id has 1 to {MAX_BUTTON_ID} characters")
        if not title.strip() or len(title) > MAX_BUTTON_TITLE:
            raise exc.InvalidMessage(
                f"a reply button title has 1 to {MAX_BUTTON_TITLE} characters: {title!r}"
            )


def buttons(
    address: Address, body: str, choices: Sequence[tuple[str, str]], footer: str = ""
) -> dict[str, Any]:
    _check_buttons(choices)
    if not body.strip() or len(body) > MAX_INTERACTIVE_BODY:
        raise exc.InvalidMessage(f"an interactive body has 1 to {MAX_INTERACTIVE_BODY} chars")
    if len(footer) > MAX_FOOTER:
        raise exc.InvalidMessage(f"a footer has at most {MAX_FOOTER} characters")
    interactive: dict[str, Any] = {"type": "button", "body": {"text": body}}
    if footer:
        interactive["footer"] = {"text": footer}
    interactive["action"] = {
        "buttons": [
            {"type": "reply", "reply": {"id": button_id, "title": title}}
            for button_id, title in choices
        ]
    }
    payload = _envelope(address, "interactive")
    payload["interactive"] = interactive
    return payload


def template(
    address: Address,
    name: str,
    language: str,
    body_params: Sequence[str] = (),
    quick_reply_payloads: Sequence[str] = (),
) -> dict[str, Any]:
    if not name:
        raise exc.InvalidMessage("a template message needs the template's name")
    if len(quick_reply_payloads) > MAX_QUICK_REPLIES:
        raise exc.InvalidMessage(f"a template has at most {MAX_QUICK_REPLIES} quick replies")
    if any(not p or len(p) > MAX_BUTTON_ID for p in quick_reply_payloads):
        raise exc.InvalidMessage(f"a quick-reply payload has 1 to {MAX_BUTTON_ID} characters")
    components: list[dict[str, Any]] = []
    if body_params:
        components.append(
            {"type": "body", "parameters": [{"type": "text", "text": p} for p in body_params]}
        )
    for index, quick_reply in enumerate(quick_reply_payloads):
        components.append(
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": str(index),
                "parameters": [{"type": "payload", "payload": quick_reply}],
            }
        )
    body: dict[str, Any] = {"name": name, "language": {"code": language}}
    if components:
        body["components"] = components
    payload = _envelope(address, "template")
    payload["template"] = body
    return payload


def as_seen(payload: dict[str, Any] | None) -> dict[str, Any]:
    """What the person sees of a payload built here: text, buttons, or a named template."""
    payload = payload or {}
    kind = payload.get("type", "")
    if kind == "text":
        return {"kind": "text", "text": payload.get("text", {}).get("body", "")}
    if kind == "interactive":
        interactive = payload.get("interactive", {})
        return {
            "kind": "buttons",
            "text": interactive.get("body", {}).get("text", ""),
            "footer": interactive.get("footer", {}).get("text", ""),
            "buttons": [
                b.get("reply", {}).get("title", "")
                for b in interactive.get("action", {}).get("buttons", [])
            ],
        }
    if kind == "template":
        body = payload.get("template", {})
        components = body.get("components", [])
        params = [
            p.get("text", "")
            for c in components
            if c.get("type") == "body"
            for p in c.get("parameters", [])
        ]
        replies = sum(1 for c in components if c.get("sub_type") == "quick_reply")
        return {
            "kind": "template",
            "template": body.get("name", ""),
            "language": body.get("language", {}).get("code", ""),
            "params": params,
            "quick_replies": replies,
        }
    return {"kind": kind or "unknown"}
