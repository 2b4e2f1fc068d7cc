"""The WhatsApp Groups API, as far as groups need it: create a group that needs our approval
to join, read its invite link, list / approve / reject join requests, remove a participant.

Two backends chosen by WHATSAPP_BACKEND: "console" (default; logs, nothing leaves the
machine) and "cloud" (the Graph API at WHATSAPP_API_BASE_URL).
"""

import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from django.conf import settings

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10


class PlatformError(Exception):
    def __init__(self, message: str, *, code: int | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


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


class GroupsPlatform(Protocol):
    def create_group(self, *, subject: str, description: str = "") -> CreatedGroup: ...
    def list_groups(self) -> list[ActiveGroup]: ...
    def get_invite_link(self, group_id: str) -> str: ...
    def list_join_requests(self, group_id: str) -> list[JoinRequest]: ...
    def approve_join_requests(self, group_id: str, request_ids: list[str]) -> None: ...
    def reject_join_requests(self, group_id: str, request_ids: list[str]) -> None: ...
    def remove_participants(
        self, group_id: str, *, users: list[str], user_ids: list[str]
    ) -> None: ...


class ConsoleGroups:
    """Development backend: deterministic ids and links, every call logged."""

    def create_group(self, *, subject: str, description: str = "") -> CreatedGroup:
        digest = hashlib.sha256(subject.encode()).hexdigest()[:12]
        log.info("[console] create group %r with join_approval_mode=approval_required", subject)
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

    def approve_join_requests(self, group_id: str, request_ids: list[str]) -> None:
        log.info("[console] approve join requests %s of group %s", request_ids, group_id)

    def reject_join_requests(self, group_id: str, request_ids: list[str]) -> None:
        log.info("[console] reject join requests %s of group %s", request_ids, group_id)

    def remove_participants(self, group_id: str, *, users: list[str], user_ids: list[str]) -> None:
        log.info("[console] remove %s %s from group %s", users, user_ids, group_id)


class CloudGroups:
    """The Graph API's Groups endpoints."""

    def __init__(self) -> None:
        base = settings.WHATSAPP_API_BASE_URL.rstrip("/")
        self.base_url = f"{base}/{settings.WHATSAPP_API_VERSION}"
        self.phone_number_id = settings.WHATSAPP_PHONE_NUMBER_ID
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {settings.WHATSAPP_ACCESS_TOKEN}"

    def _call(self, method: str, path: str, **kwargs: Any) -> dict:
        try:
            response = self.session.request(
                method, f"{self.base_url}/{path.lstrip('/')}", timeout=TIMEOUT_SECONDS, **kwargs
            )
        except requests.RequestException as exc:
            raise PlatformError(f"Groups API unreachable: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise PlatformError(
                error.get("message") or f"Groups API answered {response.status_code}",
                code=error.get("code"),
                status=response.status_code,
            )
        return body

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

    def _pages(self, path: str, params: dict[str, str] | None = None):
        params = dict(params or {})
        while True:
            body = self._call("GET", path, params=params)
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
        return self._call("GET", f"{group_id}/invite_link")["invite_link"]

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

    def _join_requests(self, method: str, group_id: str, request_ids: list[str]) -> None:
        if request_ids:
            self._call(
                method,
                f"{group_id}/join_requests",
                json={"messaging_product": "whatsapp", "join_requests": list(request_ids)},
            )

    def approve_join_requests(self, group_id: str, request_ids: list[str]) -> None:
        self._join_requests("POST", group_id, request_ids)

    def reject_join_requests(self, group_id: str, request_ids: list[str]) -> None:
        self._join_requests("DELETE", group_id, request_ids)

    def remove_participants(self, group_id: str, *, users: list[str], user_ids: list[str]) -> None:
        participants = [{"user": u} for u in users] + [{"user_id": u} for u in user_ids]
        if participants:
            self._call(
                "DELETE",
                f"{group_id}/participants",
                json={"messaging_product": "whatsapp", "participants": participants},
            )


def get_client() -> GroupsPlatform:
    if settings.WHATSAPP_BACKEND == "cloud":
        return CloudGroups()
    return ConsoleGroups()
