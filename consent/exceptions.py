"""Domain errors of consent recording; each names a code and, where it has one, a field."""

from config.errors import DomainError

from .rules import IllegalTransition

__all__ = ["ConsentError", "IdempotencyConflict", "IllegalTransition", "InvalidConsent"]


class ConsentError(DomainError):
    pass


class InvalidConsent(ConsentError):
    """The event is malformed: a missing notice, a date in the future, …"""


class IdempotencyConflict(ConsentError):
    code = "idempotency_conflict"
    field = "idempotency_key"
    conflict = True
