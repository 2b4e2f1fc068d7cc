"""Registry of inbound handlers. Apps register theirs from AppConfig.ready():

    from whatsapp.handlers import on

    @on("message")
    def handle_consent_buttons(event: InboundMessage) -> None: ...

`whatsapp` imports none of them; a handler ignores events it does not own.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from .events import SendFailure

logger = logging.getLogger(__name__)

# "send_failed" carries a SendFailure: a send refused with an error others act on.
# "outbound_result" carries an OutboundResult: the fate of an outbox row, for its origin;
# "outbound_settled" the list of them once a delivery run is over (for work per batch).
KINDS = (
    "message",
    "status",
    "user_preference",
    "identity_update",
    "group_participants",
    "group_lifecycle",
    # A TemplateChanged, after the registry applied a template webhook.
    "template_changed",
    "send_failed",
    "outbound_result",
    "outbound_settled",
)

Handler = Callable[[Any], None]

_registry: dict[str, list[Handler]] = {kind: [] for kind in KINDS}


def on(kind: str) -> Callable[[Handler], Handler]:
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}; expected one of {', '.join(KINDS)}")

    def register(handler: Handler) -> Handler:
        # Registering twice (a module imported again) must not run it twice.
        name = f"{handler.__module__}.{handler.__qualname__}"
        known = {f"{h.__module__}.{h.__qualname__}" for h in _registry[kind]}
        if name not in known:
            _registry[kind].append(handler)
        return handler

    return register


# Judges registered by other apps: may this stored item (kind, payload) carry an
# opt-out? Asked only when an item failed, to list it for staff.
OptOutJudge = Callable[[str, dict[str, Any]], bool]
_opt_out_judges: list[OptOutJudge] = []


def judges_opt_out(judge: OptOutJudge) -> OptOutJudge:
    if judge not in _opt_out_judges:
        _opt_out_judges.append(judge)
    return judge


def may_carry_opt_out(kind: str, payload: dict[str, Any]) -> bool:
    """True when a registered judge says so, or when judging fails (the restrictive answer)."""
    for judge in _opt_out_judges:
        try:
            if judge(kind, payload):
                return True
        except Exception:
            logger.exception("opt-out judge %s failed on a %s item", judge, kind)
            return True
    return False


# The business number (phone_number_id) the item being handled came through, if any: what
# a handler records (a consent event) names it without every handler passing it on.
_business_number: ContextVar[str] = ContextVar("business_number", default="")


def current_business_number() -> str:
    return _business_number.get()


@contextmanager
def through_business_number(phone_number_id: str) -> Iterator[None]:
    token = _business_number.set(phone_number_id or "")
    try:
        yield
    finally:
        _business_number.reset(token)


def handlers_for(kind: str) -> list[Handler]:
    return list(_registry.get(kind, ()))


def dispatch(kind: str, event: Any) -> int:
    """Run every handler for `kind`; an exception propagates (the event is marked failed)."""
    handlers = handlers_for(kind)
    for handler in handlers:
        handler(event)
    return len(handlers)


def dispatch_send_failure(message: Any, error: Any) -> None:
    """Tell "send_failed" handlers; their failure is logged, never hides the send error."""
    failure = SendFailure(
        outbound_id=message.pk,
        to=message.to,
        contact_id=message.contact_id,
        code=error.code,
        title=str(error.detail),
    )
    for handler in handlers_for("send_failed"):
        try:
            with through_business_number(getattr(message, "phone_number_id", "") or ""):
                handler(failure)
        except Exception:
            logger.exception("send_failed handler %s failed", handler)
