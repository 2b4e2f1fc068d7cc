"""Why an invitation, an answer or a join was refused: each error names a code and a reason."""

from config.errors import DomainError


class GroupError(DomainError):
    code = "invalid"
    conflict = True

    def __init__(self, detail: str, *, code: str | None = None, reason: str = "") -> None:
        super().__init__(detail, code=code)
        # The short why, without naming the contact and group (for lists of skipped people).
        self.reason = reason or detail


class InvitationRefused(GroupError):
    """The contact cannot be invited now (consent, duplicate, cooldown, full group, …)."""


class DuplicateInvitation(InvitationRefused):
    code = "duplicate_pending"


class InvitationClosed(GroupError):
    """The invitation can no longer take this answer (expired, revoked, already answered)."""


class GroupFull(GroupError):
    code = "group_full"
