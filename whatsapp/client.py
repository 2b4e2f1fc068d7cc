"""Outbound WhatsApp messages behind one interface with two backends.

- `console` (default): stores the message in the OutboundMessage outbox and logs
  it; nothing leaves the machine.
- `cloud`: posts the same JSON to the Graph API
  `{WHATSAPP_API_BASE_URL}/{WHATSAPP_API_VERSION}/{WHATSAPP_PHONE_NUMBER_ID}/messages`.

Both validate the message and refuse free-form messages outside the 24-hour
customer-service window before anything is stored or sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import httpx
from django.conf import settings
from django.utils import timezone

from . import exceptions as exc
from .handlers import dispatch_send_failure
from .models import OutboundMessage, ServiceWindow

logger = logging.getLogger(__name__)

SERVICE_WINDOW = timedelta(hours=24)
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_INTERACTIVE_BODY = 1024
MAX_FOOTER = 60
MAX_TEXT_BODY = 4096
MAX_QUICK_REPLIES = 10

RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131048, 131056})
AUTH_CODES = frozenset({0, 3, 10, 190, *range(200, 300)})
INVALID_RECIPIENT_CODES = frozenset({131021, 131026, 131030})
INVALID_MESSAGE_CODES = frozenset({100, 131008, 131009, 131051, *range(132000, 132100)})
OUTSIDE_WINDOW = 131047
STOPPED_MARKETING = 131050


def recipient_digits(to: str) -> str:
    """`+44 7911 123456` → `447911123456`; a business-scoped user id is kept as is."""
    stripped = to.strip()
    digits = "".join(ch for ch in stripped if ch.isdigit())
    if stripped.lstrip("+").replace(" ", "").replace("-", "").isdigit():
        return digits
    return stripped


def _window_keys(to: str, contact: Any) -> list[str]:
    keys = [recipient_digits(to)]
    for attr in ("wa_id", "whatsapp_user_id"):
        value = getattr(contact, attr, None) if contact is not None else None
        if value:
            keys.append(value)
    return keys


def in_service_window(*, to: str, contact: Any = None, at=None) -> bool:
    """Has this person written to us in the last 24 hours?"""
    at = at or timezone.now()
    return ServiceWindow.objects.filter(
        recipient__in=_window_keys(to, contact), last_inbound_at__gt=at - SERVICE_WINDOW
    ).exists()


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


class WhatsAppClient:
    backend = "base"

    # --- The interface (contract 1) ----------------------------------------------

    def send_text(self, *, to: str, body: str, contact: Any = None) -> OutboundMessage:
        if not body.strip() or len(body) > MAX_TEXT_BODY:
            raise exc.InvalidMessage(f"a text message has 1 to {MAX_TEXT_BODY} characters")
        self._require_window(to, contact)
        payload = self._envelope(to, "text")
        payload["text"] = {"preview_url": False, "body": body}
        return self._send(OutboundMessage.Kind.TEXT, to, contact, payload, [])

    def send_buttons(
        self,
        *,
        to: str,
        body: str,
        buttons: list[tuple[str, str]],
        contact: Any = None,
        notice_refs: list[str] | None = None,
        footer: str = "",
    ) -> OutboundMessage:
        _check_buttons(buttons)
        if not body.strip() or len(body) > MAX_INTERACTIVE_BODY:
            raise exc.InvalidMessage(f"an interactive body has 1 to {MAX_INTERACTIVE_BODY} chars")
        if len(footer) > MAX_FOOTER:
            raise exc.InvalidMessage(f"a footer has at most {MAX_FOOTER} characters")
        self._require_window(to, contact)
        interactive: dict[str, Any] = {"type": "button", "body": {"text": body}}
        if footer:
            interactive["footer"] = {"text": footer}
        interactive["action"] = {
            "buttons": [
                {"type": "reply", "reply": {"id": button_id, "title": title}}
                for button_id, title in buttons
            ]
        }
        payload = self._envelope(to, "interactive")
        payload["interactive"] = interactive
        return self._send(OutboundMessage.Kind.BUTTONS, to, contact, payload, notice_refs or [])

    def send_template(
        self,
        *,
        to: str,
        name: str,
        language: str,
        body_params: Sequence[str] = (),
        quick_reply_payloads: Sequence[str] = (),
        contact: Any = None,
        notice_refs: list[str] | None = None,
    ) -> OutboundMessage:
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
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if components:
            template["components"] = components
        payload = self._envelope(to, "template")
        payload["template"] = template
        return self._send(OutboundMessage.Kind.TEMPLATE, to, contact, payload, notice_refs or [])

    # --- Shared mechanics ------------------------------------------------------------

    def _envelope(self, to: str, message_type: str) -> dict[str, Any]:
        return {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": recipient_digits(to),
            "type": message_type,
        }

    def _require_window(self, to: str, contact: Any) -> None:
        if not in_service_window(to=to, contact=contact):
            raise exc.OutsideServiceWindow(
                "free-form messages are allowed only within 24 hours of the person's last "
                "message; send a template instead",
                code=OUTSIDE_WINDOW,
            )

    def _send(
        self, kind: str, to: str, contact: Any, payload: dict, notice_refs: list[str]
    ) -> OutboundMessage:
        message = OutboundMessage.objects.create(
            to=recipient_digits(to),
            contact_id=getattr(contact, "pk", None),
            kind=kind,
            payload=payload,
            notice_refs=list(notice_refs),
            backend=self.backend,
        )
        try:
            wamid = self._deliver(message)
        except exc.WhatsAppError as error:
            message.status = OutboundMessage.Status.FAILED
            message.error_code = error.code
            message.error_title = str(error.detail)[:500]
            message.save(update_fields=["status", "error_code", "error_title", "attempts"])
            if isinstance(error, exc.RecipientStoppedMarketing):
                dispatch_send_failure(message, error)
            raise
        message.wamid = wamid
        message.status = OutboundMessage.Status.ACCEPTED
        message.sent_at = timezone.now()
        message.save(update_fields=["wamid", "status", "sent_at", "attempts"])
        return message

    def _deliver(self, message: OutboundMessage) -> str:
        raise NotImplementedError


class ConsoleClient(WhatsAppClient):
    """Development backend: the outbox row and a log line are the whole delivery."""

    backend = "console"

    def _deliver(self, message: OutboundMessage) -> str:
        message.attempts += 1
        logger.info("WhatsApp (console) to %s: %s", message.to, message.payload)
        return f"wamid.console.{message.pk.hex}"


class CloudClient(WhatsAppClient):
    """The Graph API over HTTP (httpx), with bounded, backed-off retries."""

    backend = "cloud"

    def __init__(
        self,
        *,
        base_url: str,
        api_version: str,
        phone_number_id: str,
        access_token: str,
        timeout: float = 10.0,
        max_attempts: int = 4,
        backoff: float = 0.5,
    ) -> None:
        if not (phone_number_id and access_token):
            raise exc.AuthError("WHATSAPP_PHONE_NUMBER_ID and WHATSAPP_ACCESS_TOKEN must be set")
        self.url = f"{base_url.rstrip('/')}/{api_version}/{phone_number_id}/messages"
        self.access_token = access_token
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff

    def _deliver(self, message: OutboundMessage) -> str:
        # One row, however many attempts: a retry resends the same stored body
        # and a message that already has a wamid is never sent again.
        if message.wamid:
            return message.wamid
        headers = {"Authorization": f"Bearer {self.access_token}"}
        last_error: exc.WhatsAppError | None = None
        for attempt in range(self.max_attempts):
            if attempt:
                time.sleep(self._delay(attempt, last_error))
            message.attempts += 1
            try:
                response = httpx.post(
                    self.url, json=message.payload, headers=headers, timeout=self.timeout
                )
            except httpx.TransportError as error:  # timeouts, refused connections, resets
                last_error = exc.TemporaryFailure(f"{type(error).__name__}: {error}")
                continue
            if response.status_code < 300:
                return response.json()["messages"][0]["id"]
            last_error = error_from_response(response)
            if not last_error.retryable:
                raise last_error
        assert last_error is not None
        raise last_error

    def _delay(self, attempt: int, error: exc.WhatsAppError | None) -> float:
        delay = self.backoff * 2 ** (attempt - 1)
        if isinstance(error, exc.RateLimited) and error.retry_after:
            delay = max(delay, error.retry_after)
        return delay


def error_from_response(response: httpx.Response) -> exc.WhatsAppError:
    """Map a Graph API error response to our exceptions."""
    try:
        error = response.json().get("error", {})
    except ValueError:
        error = {}
    code = error.get("code")
    details = (error.get("error_data") or {}).get("details", "")
    title = error.get("message") or error.get("title") or f"HTTP {response.status_code}"
    detail = f"{title}: {details}" if details else title
    kwargs = {"code": code, "title": title}
    if code in RATE_LIMIT_CODES or response.status_code == 429:
        retry_after = response.headers.get("Retry-After")
        seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
        return exc.RateLimited(detail, retry_after=seconds, **kwargs)
    if code == OUTSIDE_WINDOW:
        return exc.OutsideServiceWindow(detail, **kwargs)
    if code == STOPPED_MARKETING:
        return exc.RecipientStoppedMarketing(detail, **kwargs)
    if code in INVALID_RECIPIENT_CODES:
        return exc.InvalidRecipient(detail, **kwargs)
    if code in AUTH_CODES or response.status_code in (401, 403):
        return exc.AuthError(detail, **kwargs)
    if code in INVALID_MESSAGE_CODES:
        return exc.InvalidMessage(detail, **kwargs)
    if response.status_code >= 500:
        return exc.TemporaryFailure(detail, **kwargs)
    return exc.WhatsAppError(detail, **kwargs)


def get_client() -> WhatsAppClient:
    if settings.WHATSAPP_BACKEND == "cloud":
        return CloudClient(
            base_url=settings.WHATSAPP_API_BASE_URL,
            api_version=settings.WHATSAPP_API_VERSION,
            phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID,
            access_token=settings.WHATSAPP_ACCESS_TOKEN,
            timeout=settings.WHATSAPP_HTTP_TIMEOUT,
            max_attempts=settings.WHATSAPP_MAX_ATTEMPTS,
            backoff=settings.WHATSAPP_RETRY_BACKOFF,
        )
    if settings.WHATSAPP_BACKEND == "console":
        return ConsoleClient()
    raise ValueError(f"unknown WHATSAPP_BACKEND {settings.WHATSAPP_BACKEND!r}")
