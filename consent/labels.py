"""The one map from the consent vocabulary's codes to words, for the admin, the pages and the API.

Statuses, actions, sources and purposes take their words from consent.rules;
eligibility reasons (consent.selectors.Reason) have theirs here. A code nobody
named yet reads as itself rather than failing a page.
"""

from typing import TYPE_CHECKING

from django.db import models
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

from .rules import Action, Purpose, Source, Status
from .selectors import Reason

REASON_LABELS: dict[str, "StrOrPromise"] = {
    Reason.OPTED_IN: _("Opted in"),
    Reason.LEGACY_GRACE_PERIOD: _("Legacy consent, in its grace period"),
    Reason.NO_CONSENT: _("No consent"),
    Reason.PENDING_CONFIRMATION: _("Waiting for the person to confirm"),
    Reason.OPTED_OUT: _("Opted out"),
    Reason.PAUSED: _("Paused"),
    Reason.LEGACY_EXPIRED: _("Legacy consent expired"),
    Reason.UNKNOWN_CONTACT: _("Not a known contact"),
    Reason.INVALID_PHONE: _("Not a valid phone number"),
    Reason.WITHDRAWN_AFTER_QUEUED: _("Opted out after it was queued"),
    Reason.BLOCKED: _("Blocked"),
    Reason.TOPIC_OPTED_OUT: _("Opted out of this topic"),
    Reason.TOPIC_NO_CONSENT: _("No consent to this topic"),
}


def _choices(choices: type[models.TextChoices]) -> dict[str, "StrOrPromise"]:
    return {member.value: member.label for member in choices}


LABELS: dict[str, dict[str, "StrOrPromise"]] = {
    "status": _choices(Status),
    "action": _choices(Action),
    "source": _choices(Source),
    "purpose": _choices(Purpose),
    "reason": REASON_LABELS,
}


def label(kind: str, code: str | None) -> str:
    """The words for `code` of `kind` ("status", "action", "source", "purpose", "reason")."""
    if not code:
        return ""
    return str(LABELS[kind].get(code, code))


def reason_label(reason: str) -> str:
    return label("reason", reason)
