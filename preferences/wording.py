"""Consent in plain words for customers, in the active language."""

from datetime import datetime

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from consent.models import ConsentEvent
from consent.rules import Action, Purpose, Source, Status


def purpose_name(purpose: str) -> str:
    words: dict[str, str] = {
        Purpose.MARKETING: _("Offers and news"),
        Purpose.SERVICE: _("Order and account updates"),
        Purpose.CALLS: _("WhatsApp calls from us"),
    }
    return words.get(purpose, purpose)


def purpose_in_sentence(purpose: str) -> str:
    words: dict[str, str] = {
        Purpose.MARKETING: _("offers and news"),
        Purpose.SERVICE: _("order and account updates"),
        Purpose.CALLS: _("WhatsApp calls from us"),
    }
    return words.get(purpose, purpose)


def purpose_description(purpose: str) -> str:
    words: dict[str, str] = {
        Purpose.MARKETING: _("Promotions, offers and news, sent on WhatsApp."),
        Purpose.SERVICE: _("Order updates, confirmations and account notices, sent on WhatsApp."),
        Purpose.CALLS: _(
            "Whether we may call you on WhatsApp. You give this permission in WhatsApp "
            "when we ask; you can take it back here at any time."
        ),
    }
    return words.get(purpose, "")


def how(source: str) -> str:
    words: dict[str, str] = {
        Source.WEB_FORM: _("by ticking a box on our website"),
        Source.PREFERENCE_CENTRE: _("on this preferences page"),
        Source.WHATSAPP_BUTTON: _("by tapping a button on WhatsApp"),
        Source.WHATSAPP_KEYWORD: _("by sending us a message on WhatsApp"),
        Source.WHATSAPP_PLATFORM: _("through WhatsApp's own settings"),
        Source.API: _("through one of our systems"),
        Source.IMPORT: _("in records we brought over from an earlier system"),
        Source.ADMIN: _("through our staff"),
        Source.SYSTEM: _("automatically"),
    }
    return words.get(source, "")


def day(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return formats.date_format(timezone.localtime(moment), "DATE_FORMAT")


def moment(value: datetime) -> str:
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")


def status_word(status: str) -> str:
    """A short label that says the state in words (never colour alone)."""
    words: dict[str, str] = {
        Status.OPTED_IN: _("On"),
        Status.PAUSED: _("Paused"),
        Status.LEGACY: _("On for now"),
        Status.PENDING: _("Waiting for your confirmation"),
    }
    return words.get(status, _("Off"))


def state_sentence(
    status: str,
    *,
    since: datetime | None,
    source: str,
    expires_at: datetime | None = None,
    paused_until: datetime | None = None,
) -> str:
    values = {
        "date": day(since),
        "how": how(source),
        "until": day(paused_until),
        "deadline": day(expires_at),
    }
    if status == Status.OPTED_IN and expires_at is not None:
        return _("You said yes on %(date)s %(how)s, until %(deadline)s.") % values
    if status == Status.OPTED_IN:
        return _("You said yes on %(date)s %(how)s.") % values
    if status == Status.PAUSED:
        return _("You paused these messages on %(date)s. They start again on %(until)s.") % values
    if status == Status.OPTED_OUT:
        return _("You said no on %(date)s %(how)s.") % values
    if status == Status.PENDING:
        return (
            _(
                "You asked for these messages on %(date)s %(how)s. "
                "Confirm on WhatsApp, or turn them on here."
            )
            % values
        )
    if status == Status.LEGACY:
        return (
            _(
                "You agreed before our new rules. That consent ends on %(deadline)s "
                "unless you confirm."
            )
            % values
        )
    if status == Status.EXPIRED:
        return _("Your earlier consent ended on %(date)s.") % values
    return _("You have not said yes to these messages.")


def topic_status_word(status: str) -> str:
    return _("On") if status == Status.OPTED_IN else _("Off")


def topic_confirmation(*, name: str, status: str) -> str:
    """What we tell the person after a topic change: the state that resulted."""
    if status == Status.OPTED_IN:
        return _("Done: you will receive %(topic)s.") % {"topic": name}
    return _("Done: you will no longer receive %(topic)s.") % {"topic": name}


def history_sentence(event: ConsentEvent, *, topic_name: str | None = None) -> str:
    values = {
        "purpose": topic_name or purpose_in_sentence(event.purpose),
        "how": how(event.source),
        "until": day(event.paused_until),
        "deadline": day(event.expires_at),
    }
    if event.action == Action.REQUEST:
        text = _("You asked to receive %(purpose)s %(how)s; we asked you to confirm on WhatsApp.")
    elif event.action == Action.GRANT:
        text = _("You said yes to %(purpose)s %(how)s.")
    elif event.action == Action.WITHDRAW:
        text = _("You said no to %(purpose)s %(how)s.")
    elif event.action == Action.LEGACY:
        text = _(
            "We recorded consent to %(purpose)s that you gave before our new rules, "
            "valid until %(deadline)s."
        )
    elif event.action == Action.EXPIRE and event.status_after == Status.NONE:
        text = _("Your request for %(purpose)s was not confirmed, so it lapsed.")
    elif event.action == Action.EXPIRE:
        text = _("Your earlier consent to %(purpose)s ended.")
    elif event.action == Action.PAUSE:
        text = _("You paused %(purpose)s until %(until)s %(how)s.")
    else:
        text = "%(purpose)s"
    sentence = text % values
    if not event.applied:
        sentence += " " + _("(Kept for the record only: a newer answer was already in place.)")
    return sentence


def change_confirmation(*, purpose: str, status: str, paused_until: datetime | None) -> str:
    """What we tell the person after a change: the state that resulted, never what was asked."""
    values = {
        "purpose": purpose_in_sentence(purpose),
        "until": day(paused_until),
    }
    actions: dict[str, str] = {
        Status.OPTED_IN: Action.GRANT,
        Status.OPTED_OUT: Action.WITHDRAW,
        Status.PAUSED: Action.PAUSE,
    }
    action = actions.get(status)
    if action == Action.GRANT:
        return _("Done: you will receive %(purpose)s. You can turn them off at any time.") % values
    if action == Action.WITHDRAW:
        return (
            _(
                "Done: you will no longer receive %(purpose)s. "
                "You can turn them back on at any time."
            )
            % values
        )
    if action == Action.PAUSE:
        return _("Done: %(purpose)s are paused until %(until)s.") % values
    return _("Your answer is saved. A later answer of yours still stands for %(purpose)s.") % values
