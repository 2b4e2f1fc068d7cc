"""Typed inbound events: what handlers registered in `whatsapp.handlers` receive."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class CallPermissionReply:
    """The person's answer to our call permission request (interactive call_permission_reply).

    response: accept / reject; is_permanent: a permission without end; expires_at: the end
    of a temporary one; response_source: user_action (they tapped) or automatic (granted
    by calling us, or from the business profile).
    """

    response: str
    is_permanent: bool
    expires_at: datetime | None
    response_source: str


@dataclass(frozen=True)
class InboundMessage:
    """A message a person sent us (text, reply button, template quick reply, anything)."""

    wamid: str
    timestamp: datetime
    wa_id: str | None
    user_id: str | None
    parent_user_id: str | None
    profile_name: str
    type: str
    text: str
    # interactive button_reply id, list_reply id, or a template button payload.
    button_id: str
    # The id of our message this one replies to (context.id), or "".
    context_wamid: str
    raw: dict[str, Any] = field(repr=False)
    username: str | None = None
    # Set when the message was written in a WhatsApp group, not to us 1:1.
    group_id: str | None = None
    # For `system` messages: what changed (user_changed_number, …) and the new ids.
    system_type: str = ""
    new_wa_id: str | None = None
    new_user_id: str | None = None
    # The sender's id before a user_changed_user_id (from_user_id, or the system text).
    old_user_id: str | None = None
    call_permission: CallPermissionReply | None = None

    @property
    def is_system(self) -> bool:
        return self.type == "system"

    @property
    def opens_service_window(self) -> bool:
        """Only a message the person wrote to us opens the 24-hour window."""
        return not self.is_system and self.group_id is None


@dataclass(frozen=True)
class StatusUpdate:
    """sent / delivered / read / failed for one of our messages."""

    wamid: str
    status: str
    timestamp: datetime
    recipient_id: str | None
    errors: list[tuple[int, str]]
    raw: dict[str, Any] = field(repr=False)
    recipient_user_id: str | None = None

    def has_error(self, code: int) -> bool:
        return any(c == code for c, _ in self.errors)


@dataclass(frozen=True)
class UserPreference:
    """The platform's own preference signal, e.g. marketing_messages stop / resume."""

    wa_id: str | None
    user_id: str | None
    parent_user_id: str | None
    profile_name: str
    category: str
    value: str
    detail: str
    timestamp: datetime
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class IdentityUpdate:
    """The platform says a person's business-scoped user id changed (`user_id_update`)."""

    wa_id: str | None
    previous_user_id: str | None
    current_user_id: str | None
    timestamp: datetime
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class GroupParticipantsEvent:
    """A change of a WhatsApp group's participants or join requests (one item)."""

    group_id: str
    type: str
    timestamp: datetime | None
    wa_id: str | None
    user_id: str | None
    request_id: str
    raw: dict[str, Any] = field(repr=False)
    # Everyone the item names, as (wa_id, user_id): a removal may name several people.
    participants: tuple[tuple[str | None, str | None], ...] = ()
    # Who the platform says ended a participation: "participant" (they left), "business", …
    initiated_by: str = ""


@dataclass(frozen=True)
class GroupLifecycleEvent:
    """A WhatsApp group we asked for was created (or failed, or was deleted)."""

    group_id: str
    type: str
    request_id: str
    subject: str
    invite_link: str
    timestamp: datetime | None
    errors: list[tuple[int, str]]
    raw: dict[str, Any] = field(repr=False)

    @property
    def succeeded(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class TemplateUpdate:
    """A template's status, quality or category, as a template webhook reported it.

    Empty strings for what this webhook does not say. `upcoming_category` is set
    for an impending re-categorisation (then `category` is the current one).
    """

    webhook_field: str
    waba_id: str
    template_id: str
    name: str
    language: str
    status: str
    reason: str
    category: str
    previous_category: str
    upcoming_category: str
    upcoming_category_at: datetime | None
    quality: str
    timestamp: datetime
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class TemplateChanged:
    """The registry changed a template: what others act on (campaigns pause, move purpose)."""

    template_pk: int
    name: str
    language: str
    # field → (before, after), only the fields that changed.
    changes: dict[str, tuple[str, str]]


@dataclass(frozen=True)
class OutboundResult:
    """What became of an outbox row; handlers find theirs by `origin`.

    status: accepted / failed / skipped / unknown (the worker stopped mid-send).
    """

    outbound_id: Any
    origin: str
    status: str
    contact_id: Any
    wamid: str = ""
    error_code: int | None = None
    error_title: str = ""
    skip_reason: str = ""
    # A Groups API call's answer (approved / failed join requests).
    result: dict[str, Any] | None = None


@dataclass(frozen=True)
class SendFailure:
    """A send the Cloud API refused for a reason other apps must act on (e.g. 131050)."""

    outbound_id: Any
    to: str
    contact_id: Any
    code: int | None
    title: str
