"""Registry of inbound handlers. Apps register theirs from AppConfig.ready():

    from whatsapp.handlers import on

    @on("message")
    def handle_consent_buttons(event: InboundMessage) -> None: ...

`whatsapp` imports none of them; a handler ignores events it does not own.
"""

import logging
from collections.abc import Callable
from typing import Any

from .events import SendFailure

logger = logging.getLogger(__name__)

# "send_failed" carries a SendFailure: a send refused with an error others act on.
KINDS = ("message", "status", "user_preference", "group_participants", "send_failed")

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
            handler(failure)
        except Exception:
            logger.exception("send_failed handler %s failed", handler)
