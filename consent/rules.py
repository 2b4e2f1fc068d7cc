"""The consent vocabulary and the one table of legal transitions."""

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from config.errors import DomainError


class Purpose(models.TextChoices):
    MARKETING = "marketing", _("Marketing")
    SERVICE = "service", _("Service")
    # Permission to call the person on WhatsApp: given in the platform's own dialog, in answer
    # to our request, for a time (expires_at) or for good; never a message purpose.
    CALLS = "calls", _("Calls")


# The purposes we send messages under: campaigns, groups, templates, imports of consent.
MESSAGE_PURPOSES = (Purpose.MARKETING, Purpose.SERVICE)
MESSAGE_PURPOSE_CHOICES = [(p.value, p.label) for p in MESSAGE_PURPOSES]


class Status(models.TextChoices):
    NONE = "none", _("No consent")
    PENDING = "pending", _("Pending confirmation")
    OPTED_IN = "opted_in", _("Opted in")
    OPTED_OUT = "opted_out", _("Opted out")
    LEGACY = "legacy", _("Legacy (grace period)")
    EXPIRED = "expired", _("Expired")
    PAUSED = "paused", _("Paused")


# A call permission is granted or refused in WhatsApp's own dialog, and lapses: it is never
# legacy, pending or paused.
CALL_STATUSES = (Status.OPTED_IN, Status.OPTED_OUT, Status.EXPIRED, Status.NONE)


def statuses_of(purpose: str) -> tuple[Status, ...]:
    """The statuses a purpose's consent can be in."""
    return CALL_STATUSES if purpose == Purpose.CALLS else tuple(Status)


class Action(models.TextChoices):
    REQUEST = "request", _("Request (double opt-in)")
    GRANT = "grant", _("Grant")
    WITHDRAW = "withdraw", _("Withdraw")
    LEGACY = "legacy", _("Legacy import")
    EXPIRE = "expire", _("Expire")
    PAUSE = "pause", _("Pause")


class Source(models.TextChoices):
    WEB_FORM = "web_form", _("Web form")
    PREFERENCE_CENTRE = "preference_centre", _("Preference centre")
    WHATSAPP_BUTTON = "whatsapp_button", _("WhatsApp button")
    WHATSAPP_KEYWORD = "whatsapp_keyword", _("WhatsApp keyword")
    WHATSAPP_PLATFORM = "whatsapp_platform", _("WhatsApp platform signal")
    API = "api", _("API")
    IMPORT = "import", _("Import")
    ADMIN = "admin", _("Admin")
    SYSTEM = "system", _("System")


S, A = Status, Action

# (status before, action) -> status after. Anything absent is illegal.
TRANSITIONS: dict[tuple[Status, Action], Status] = {
    # Asking for confirmation: never from a live opt-in.
    **{(s, A.REQUEST): S.PENDING for s in (S.NONE, S.PENDING, S.OPTED_OUT, S.LEGACY, S.EXPIRED)},
    # A grant is always explicit (it names a notice), so it is legal from anywhere,
    # including a re-affirmation of an opt-in with newer wording.
    **{(s, A.GRANT): S.OPTED_IN for s in S},
    # An opt-out is always honoured, even from no consent at all.
    **{(s, A.WITHDRAW): S.OPTED_OUT for s in S},
    # Legacy evidence only ever starts or refreshes a grace period; it never
    # overrides an answer the person gave.
    (S.NONE, A.LEGACY): S.LEGACY,
    (S.LEGACY, A.LEGACY): S.LEGACY,
    # The system lapses legacy consent at the deadline and stale confirmations.
    (S.LEGACY, A.EXPIRE): S.EXPIRED,
    (S.PENDING, A.EXPIRE): S.NONE,
    # A time-limited permission (calls) lapses at its expires_at.
    (S.OPTED_IN, A.EXPIRE): S.EXPIRED,
    (S.OPTED_IN, A.PAUSE): S.PAUSED,
    (S.PAUSED, A.PAUSE): S.PAUSED,
}

# Actions that must name the wording the person was shown.
ACTIONS_NEEDING_NOTICE = frozenset({A.GRANT, A.REQUEST})


def grant_may_expire(action: str, purpose: str) -> bool:
    """Only a call permission is granted for a time; every other grant holds until withdrawn."""
    return action == A.GRANT and purpose == Purpose.CALLS


class IllegalTransition(DomainError):
    code = "illegal_transition"
    conflict = True

    def __init__(self, current: Status | str, action: Action, purpose: str = "") -> None:
        self.current = Status(current)
        self.action = Action(action)
        self.purpose = purpose
        super().__init__(
            f"cannot {self.action.value} {purpose or 'consent'} from status '{self.current.value}'"
        )

    def extra(self) -> dict[str, Any]:
        return {"current_status": self.current.value}


def next_status(current: Status | str, action: Action | str, purpose: str = "") -> Status:
    """The status `action` leads to from `current`, or IllegalTransition."""
    try:
        return TRANSITIONS[(Status(current), Action(action))]
    except KeyError:
        raise IllegalTransition(Status(current), Action(action), purpose) from None


# How an action weighs when events arrive out of order (see consent.ordering).
RESTRICTIVE_ACTIONS = frozenset({A.WITHDRAW, A.PAUSE, A.EXPIRE})
PERMISSIVE_ACTIONS = frozenset({A.GRANT, A.LEGACY, A.REQUEST})

# How restrictive a status is, for merging duplicates: the highest wins.
RESTRICTIVENESS: dict[Status, int] = {
    S.OPTED_IN: 0,
    S.LEGACY: 1,
    S.NONE: 2,
    S.PENDING: 3,
    S.EXPIRED: 4,
    S.PAUSED: 5,
    S.OPTED_OUT: 6,
}
