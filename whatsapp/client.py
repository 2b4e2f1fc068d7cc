"""The one Graph API client: messages and the Groups API, over httpx.

Nothing here retries or waits: a call either answers or raises an error that
says what to do next (`whatsapp.exceptions`), and the outbox's Celery task
decides when to try again. Two backends, chosen by WHATSAPP_BACKEND:

- `console` (default): nothing leaves the machine; calls are logged and answered
  with deterministic ids.
- `cloud`: `{WHATSAPP_API_BASE_URL}/{WHATSAPP_API_VERSION}/…` with the access token.

Never call it inside a database transaction: a rollback cannot unsend
(`tests/conftest.py` fails any test that does).
"""

from __future__ import annotations

import hashlib
import json as jsonlib
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings

from . import exceptions as exc

logger = logging.getLogger(__name__)

# 429-like codes: throughput (130429), pair rate (131056), app / account limits.
RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131048, 131056})
AUTH_CODES = frozenset({0, 3, 10, 190, *range(200, 300)})
INVALID_RECIPIENT_CODES = frozenset({131021, 131026, 131030, 131062})
INVALID_MESSAGE_CODES = frozenset({100, 131008, 131009, 131051, *range(132000, 132100)})
MARKETING_LIMIT = 131049
OUTSIDE_WINDOW = 131047
STOPPED_MARKETING = 131050


@dataclass(frozen=True)
class CreatedGroup:
    request_id: str
    # The Cloud API answers with a request id; the group id arrives by webhook.
    group_id: str = ""
    invite_link: str = ""


@dataclass(frozen=True)
class JoinRequest:
    id: str
    wa_id: str = ""
    user_id: str = ""
    created: int = 0


@dataclass(frozen=True)
class ActiveGroup:
    id: str
    subject: str


@dataclass(frozen=True)
class JoinRequestsAnswer:
    """What the platform did with approve / reject: the ids it applied, and the others."""

    done: list[str]
    failed: list[tuple[str, int | None, str]] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)


def join_requests_answer(body: dict[str, Any], *, approve: bool) -> JoinRequestsAnswer:
    done_key = "approved_join_requests" if approve else "rejected_join_requests"
    failed = []
    for item in body.get("failed_join_requests") or []:
        error = (item.get("errors") or [{}])[0] if isinstance(item, dict) else {}
        failed.append(
            (
                str(item.get("join_request_id", "")) if isinstance(item, dict) else str(item),
                error.get("code"),
                str(error.get("title") or error.get("message") or "not applied"),
            )
        )
    return JoinRequestsAnswer([str(i) for i in body.get(done_key) or []], failed, body)


@dataclass(frozen=True)
class BlockAnswer:
    """What `block_users` did: the users it applied (`input`s), and the others with why.

    Meta's Block Users reference ("Updated: May 21, 2026"): 200 with
    `block_users.added_users` (`removed_users` for DELETE); a partial or total refusal
    is a 400 with error 139100 whose body still lists `failed_users`, each with `errors`.
    """

    done: list[str]
    failed: list[tuple[str, int | None, str]] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)


# "(#139100) Failed to block/unblock users": its body says who, user by user.
BLOCK_USERS_FAILED = 139100


def block_answer(body: dict[str, Any]) -> BlockAnswer:
    found = body.get("block_users")
    lists: dict[str, Any] = found if isinstance(found, dict) else {}
    done = [
        str(item.get("input") or item.get("wa_id") or "")
        for key in ("added_users", "removed_users")
        for item in lists.get(key) or []
        if isinstance(item, dict)
    ]
    failed = []
    for item in lists.get("failed_users") or []:
        if not isinstance(item, dict):
            continue
        error = (item.get("errors") or [{}])[0]
        error = error if isinstance(error, dict) else {}
        code = error.get("code")
        details = (error.get("error_data") or {}).get("details") or ""
        title = str(error.get("message") or error.get("title") or "not applied")
        failed.append(
            (
                str(item.get("input") or item.get("wa_id") or ""),
                int(str(code)) if str(code or "").isdigit() else None,
                f"{title}: {details}" if details else title,
            )
        )
    if not done and not failed and isinstance(body.get("error"), dict):
        error = body["error"]
        failed.append(("", error.get("code"), str(error.get("message") or "not applied")))
    return BlockAnswer(done, failed, body)


@dataclass(frozen=True)
class TemplateListing:
    """The WABA's message templates as the Graph API lists them, every page read."""

    templates: list[dict[str, Any]]
    pages: int = 0


TEMPLATE_FIELDS = "id,name,language,status,category,quality_score,components,rejected_reason"


class ConsoleGraph:
    """Development backend: every call is logged, nothing leaves the machine."""

    backend = "console"

    def send_message(
        self, payload: dict[str, Any], *, phone_number_id: str = "", edge: str = "messages"
    ) -> str:
        reference = payload.get("biz_opaque_callback_data") or uuid.uuid4().hex
        address = payload.get("to") or payload.get("recipient")
        logger.info("WhatsApp (console) to %s: %s", address, payload)
        return f"wamid.console.{reference.replace('-', '')}"

    def answer_join_requests(
        self, group_id: str, request_ids: list[str], *, approve: bool
    ) -> JoinRequestsAnswer:
        verb = "approve" if approve else "reject"
        logger.info("[console] %s join requests %s of group %s", verb, request_ids, group_id)
        return JoinRequestsAnswer(list(request_ids))

    def remove_participants(self, group_id: str, participants: list[dict]) -> dict[str, Any]:
        logger.info("[console] remove %s from group %s", participants, group_id)
        return {"success": True}

    def create_group(self, *, subject: str, description: str = "") -> CreatedGroup:
        digest = hashlib.sha256(subject.encode()).hexdigest()[:12]
        logger.info("[console] create group %r with join_approval_mode=approval_required", subject)
        return CreatedGroup(
            request_id=f"console-request-{digest}",
            group_id=f"console-group-{digest}",
            invite_link=f"https://chat.whatsapp.com/console{digest}",
        )

    def list_groups(self) -> list[ActiveGroup]:
        return []

    def get_invite_link(self, group_id: str) -> str:
        return f"https://chat.whatsapp.com/{group_id.replace('-', '')}"

    def list_join_requests(self, group_id: str) -> list[JoinRequest]:
        return []

    def list_templates(self, waba_id: str, *, page_size: int = 100) -> TemplateListing:
        logger.info("[console] list the message templates of WABA %s (none)", waba_id)
        return TemplateListing([], 0)

    def block_users(self, phone_number_id: str, users: list[str], *, block: bool) -> BlockAnswer:
        verb = "block" if block else "unblock"
        logger.info("[console] %s %s on number %s", verb, users, phone_number_id)
        key = "added_users" if block else "removed_users"
        listed = [{"input": u, "wa_id": u} for u in users]
        return BlockAnswer(list(users), [], {"block_users": {key: listed}})


class CloudGraph:
    """The Graph API. One keep-alive connection pool per process."""

    backend = "cloud"

    def __init__(
        self,
        *,
        base_url: str,
        api_version: str,
        access_token: str,
        phone_number_id: str = "",
        timeout: float = 10.0,
    ) -> None:
        if not access_token:
            raise exc.AuthError("WHATSAPP_ACCESS_TOKEN must be set for the cloud backend")
        self.phone_number_id = phone_number_id
        self.base_url = f"{base_url.rstrip('/')}/{api_version}/"
        self._headers = httpx.Headers(
            {
                "Authorization": f"Bearer {access_token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            }
        )
        # Parsed once per path: the messages endpoint is called for every send.
        self._urls: dict[str, httpx.URL] = {}
        # A connection that cannot be made fails fast; a slow answer may mean the
        # message was accepted, so it gets the whole timeout.
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0)).as_dict()
        # httpx's transport (its keep-alive pool) without the Client's cookies, auth and
        # redirects, which the Graph API does not use: half the CPU per send.
        self._transport = httpx.HTTPTransport()

    def close(self) -> None:
        self._transport.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        answered_error: int | None = None,
    ) -> dict[str, Any]:
        """The JSON answer; an error raises, except `answered_error`, whose body is the answer."""
        # A read can always be repeated; a write whose answer was lost may have happened.
        repeatable = method == "GET"
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(self.base_url + path.lstrip("/"))
        request = httpx.Request(
            method,
            url,
            params=params,
            headers=self._headers,
            content=None if json is None else jsonlib.dumps(json, separators=(",", ":")).encode(),
            extensions={"timeout": self._timeout},
        )
        try:
            response = self._transport.handle_request(request)
            try:
                response.read()
            finally:
                response.close()
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise exc.TemporaryFailure(f"{type(error).__name__}: {error}") from error
        except httpx.TransportError as error:
            # Read timeouts, resets and servers that hung up: the request had left.
            detail = f"{type(error).__name__}: {error}"
            if repeatable:
                raise exc.TemporaryFailure(detail) from error
            raise exc.OutcomeUnknown(detail) from error
        if response.status_code >= 300 and not _is_error(response, answered_error):
            raise error_from_response(response)
        try:
            body = response.json()
        except ValueError as error:
            if repeatable:
                raise exc.TemporaryFailure("the answer was not JSON") from error
            raise exc.OutcomeUnknown(f"HTTP {response.status_code} without a JSON body") from error
        return body if isinstance(body, dict) else {"data": body}

    # --- Messages --------------------------------------------------------------------

    def send_message(
        self, payload: dict[str, Any], *, phone_number_id: str = "", edge: str = "messages"
    ) -> str:
        """`edge`: `messages`, or `marketing_messages` (the Marketing Messages API)."""
        number = phone_number_id or self.phone_number_id
        if not number:
            raise exc.AuthError("WHATSAPP_PHONE_NUMBER_ID must be set for the cloud backend")
        body = self._call("POST", f"{number}/{edge}", json=payload)
        try:
            return str(body["messages"][0]["id"])
        except (KeyError, IndexError, TypeError) as error:
            raise exc.OutcomeUnknown(f"accepted without a message id: {body}") from error

    # --- Groups API --------------------------------------------------------------------

    def create_group(self, *, subject: str, description: str = "") -> CreatedGroup:
        body = self._call(
            "POST",
            f"{self.phone_number_id}/groups",
            json={
                "messaging_product": "whatsapp",
                "subject": subject,
                "description": description,
                "join_approval_mode": "approval_required",
            },
        )
        return CreatedGroup(
            request_id=str(body.get("request_id", "")),
            group_id=str(body.get("id", "") or body.get("group_id", "")),
            invite_link=body.get("invite_link", ""),
        )

    def _pages(
        self, path: str, params: dict[str, str] | None = None, counter: list[int] | None = None
    ) -> Iterator[dict]:
        params = dict(params or {})
        while True:
            body = self._call("GET", path, params=params)
            if counter is not None:
                counter.append(1)
            yield from body.get("data", [])
            paging = body.get("paging", {})
            after = paging.get("cursors", {}).get("after")
            if not after or not paging.get("next"):
                return
            params["after"] = after

    def list_groups(self) -> list[ActiveGroup]:
        return [
            ActiveGroup(id=str(item["id"]), subject=item.get("subject", ""))
            for item in self._pages(f"{self.phone_number_id}/groups", {"fields": "id,subject"})
        ]

    def get_invite_link(self, group_id: str) -> str:
        return str(self._call("GET", f"{group_id}/invite_link")["invite_link"])

    def list_templates(self, waba_id: str, *, page_size: int = 100) -> TemplateListing:
        """Every page of `GET /<WABA_ID>/message_templates` (a 429 raises RateLimited)."""
        pages: list[int] = []
        params = {"fields": TEMPLATE_FIELDS, "limit": str(page_size)}
        found = [
            item
            for item in self._pages(f"{waba_id}/message_templates", params, pages)
            if isinstance(item, dict)
        ]
        return TemplateListing(found, len(pages))

    def list_join_requests(self, group_id: str) -> list[JoinRequest]:
        return [
            JoinRequest(
                id=str(item["join_request_id"]),
                wa_id=item.get("wa_id", "") or "",
                user_id=item.get("user_id", "") or "",
                created=int(item.get("creation_timestamp", 0) or 0),
            )
            for item in self._pages(f"{group_id}/join_requests")
        ]

    def answer_join_requests(
        self, group_id: str, request_ids: list[str], *, approve: bool
    ) -> JoinRequestsAnswer:
        body = self._call(
            "POST" if approve else "DELETE",
            f"{group_id}/join_requests",
            json={"messaging_product": "whatsapp", "join_requests": list(request_ids)},
        )
        return join_requests_answer(body, approve=approve)

    def block_users(self, phone_number_id: str, users: list[str], *, block: bool) -> BlockAnswer:
        """POST (block) or DELETE (unblock) `/<PHONE_NUMBER_ID>/block_users`."""
        number = phone_number_id or self.phone_number_id
        if not number:
            raise exc.AuthError("WHATSAPP_PHONE_NUMBER_ID must be set for the cloud backend")
        body = self._call(
            "POST" if block else "DELETE",
            f"{number}/block_users",
            json={"messaging_product": "whatsapp", "block_users": [{"user": u} for u in users]},
            answered_error=BLOCK_USERS_FAILED,
        )
        return block_answer(body)

    def remove_participants(self, group_id: str, participants: list[dict]) -> dict[str, Any]:
        return self._call(
            "DELETE",
            f"{group_id}/participants",
            json={"messaging_product": "whatsapp", "participants": participants},
        )


def _is_error(response: httpx.Response, code: int | None) -> bool:
    """True when the error answer carries `code` (its body then says more than the code)."""
    if code is None or response.status_code >= 500:
        return False
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return False
    return isinstance(error, dict) and error.get("code") == code


def error_from_response(response: httpx.Response) -> exc.WhatsAppError:
    """Map a Graph API error answer to what the outbox should do with it."""
    try:
        error = response.json().get("error", {})
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {}
    code = error.get("code")
    details = (error.get("error_data") or {}).get("details", "")
    title = error.get("message") or error.get("title") or f"HTTP {response.status_code}"
    detail = f"{title}: {details}" if details else title
    kwargs: dict[str, Any] = {"code": code, "title": title}  # as the JSON answer gave them
    if code in RATE_LIMIT_CODES or response.status_code == 429:
        retry_after = response.headers.get("Retry-After", "")
        seconds = float(retry_after) if retry_after.isdigit() else None
        return exc.RateLimited(detail, retry_after=seconds, **kwargs)
    if code == MARKETING_LIMIT:
        return exc.MarketingLimitReached(detail, **kwargs)
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


_current: dict[tuple, CloudGraph] = {}


def graph_client() -> CloudGraph | ConsoleGraph:
    """The client for the configured backend (the cloud one is kept per process)."""
    if settings.WHATSAPP_BACKEND == "console":
        return ConsoleGraph()
    if settings.WHATSAPP_BACKEND != "cloud":
        raise ValueError(f"unknown WHATSAPP_BACKEND {settings.WHATSAPP_BACKEND!r}")
    # Keyed by process too: a pool opened before a fork must not be shared.
    key = (
        os.getpid(),
        settings.WHATSAPP_API_BASE_URL,
        settings.WHATSAPP_API_VERSION,
        settings.WHATSAPP_ACCESS_TOKEN,
        settings.WHATSAPP_PHONE_NUMBER_ID,
        settings.WHATSAPP_HTTP_TIMEOUT,
    )
    client = _current.get(key)
    if client is None:
        for stale in _current.values():
            stale.close()
        _current.clear()
        client = _current[key] = CloudGraph(
            base_url=settings.WHATSAPP_API_BASE_URL,
            api_version=settings.WHATSAPP_API_VERSION,
            access_token=settings.WHATSAPP_ACCESS_TOKEN,
            phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID,
            timeout=settings.WHATSAPP_HTTP_TIMEOUT,
        )
    return client
