"""Domain errors of consent recording; each names a code and, where it has one, a field."""

from .rules import IllegalTransition

__all__ = ["ConsentError", "IdempotencyConflict", "IllegalTransition", "InvalidConsent"]


class ConsentError(Exception):
    code = "invalid"
    field: str | None = None

    def __init__(self, detail: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        if field:
            self.field = field


class InvalidConsent(ConsentError):
    """The event is malformed: a missing notice, a date in the future, …"""


class IdempotencyConflict(ConsentError):
    code = "idempotency_conflict"
    field = "idempotency_key"
