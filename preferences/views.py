"""Customer pages: the preference centre and the web opt-in form. Thin: rules live elsewhere."""

import json
import logging
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from consent.exceptions import ConsentError
from consent.models import ConsentEvent
from consent.number_scope import is_our_number
from consent.proof import verify_record
from consent.rules import IllegalTransition
from consent.services import Evidence
from contacts.copies import CopyNotSent, send_copy_link
from contacts.models import Contact
from conversation.outreach import start_link
from conversation.pending import pending_max_age, request_opt_in
from core.inputs import storable_text
from groups.exceptions import GroupError, GroupFull
from groups.selectors import pending_invitations
from groups.services import respond_to_invitation

from . import numbers, wording
from . import services as preferences
from .forms import (
    OptInForm,
    PauseForm,
    TopicOffForm,
    TopicOnForm,
    TurnOffForm,
    TurnOnForm,
    UndoForm,
    issued_token,
)
from .links import BadLink, ExpiredLink, contact_for_token
from .pages import in_language, render_page, request_evidence, too_many
from .ratelimits import client_ip, first_limit_hit

logger = logging.getLogger(__name__)

RECEIPT_SALT = "consent.preference-receipt"
RECEIPT_MAX_AGE = 24 * 60 * 60


# --- The preference centre's gate ---------------------------------------------------


def _token_key(token: str) -> str:
    # Forged variants of one contact's link count against that link.
    return token.partition(":")[0][:64]


def with_contact(view: Callable) -> Callable:
    """Rate-limit, resolve the signed token to a contact (or a friendly 404/410), set language."""
    localized = in_language(view)

    @never_cache
    @wraps(view)
    def wrapped(request: HttpRequest, token: str, *args, **kwargs):
        wait = first_limit_hit(
            [("preferences_ip", client_ip(request)), ("preferences_token", _token_key(token))]
        )
        if wait is not None:
            return in_language(lambda r: too_many(r, wait))(request)
        try:
            contact = contact_for_token(token)
        except ExpiredLink:
            return in_language(_link_expired)(request)
        except BadLink:
            return in_language(_link_invalid)(request)
        return localized(request, token, *args, contact=contact, **kwargs)

    return wrapped


def _link_expired(request: HttpRequest) -> HttpResponse:
    days = settings.PREFERENCE_LINK_MAX_AGE_DAYS
    return render_page(request, "preferences/link_expired.html", {"days": days}, status=410)


def _link_invalid(request: HttpRequest) -> HttpResponse:
    return render_page(request, "preferences/link_invalid.html", status=404)


def _evidence(request: HttpRequest, token: str, **context) -> Evidence:
    # The page the person used, without the link's signature: the ledger never
    # holds a working link.
    shown = reverse("consent:preferences", kwargs={"token": token.rsplit(":", 1)[0]})
    return request_evidence(request, page_url=request.build_absolute_uri(shown), **context)


# --- Preference centre ------------------------------------------------------------


def _centre(
    request: HttpRequest, token: str, contact: Contact, *, failed=None, status=200, topic_form=None
):
    language = translation.get_language()
    cards = preferences.purpose_cards(contact, language=language)
    topics = preferences.topic_cards(contact, language=language)
    forms_by_purpose = {}
    for card in cards:
        forms_by_purpose[card.purpose] = {
            "on": TurnOnForm(
                initial={
                    "purpose": card.purpose,
                    "notice": card.notice_to_accept.ref if card.notice_to_accept else "",
                },
                auto_id=f"id_{card.purpose}_%s",
            ),
            "pause": PauseForm(auto_id=f"id_{card.purpose}_pause_%s"),
        }
    if failed is not None and failed[0] in forms_by_purpose:
        purpose, kind, form = failed
        forms_by_purpose[purpose][kind] = form
    rows = _number_rows(contact, cards)
    context = {
        "token": token,
        "contact": contact,
        "cards": [
            (card, forms_by_purpose[card.purpose], topics.get(card.purpose, [])) for card in cards
        ],
        # A topic's box left unticked: its error beside it.
        "topic_form": topic_form,
        "numbers": rows,
        "numbers_on": sum(1 for row, _ in rows if row.allowed),
        "legacy_deadline": preferences.legacy_deadline(contact),
        "history": preferences.history(contact),
        "invitations": _pending_invitations(contact),
        "link_days": settings.PREFERENCE_LINK_MAX_AGE_DAYS,
    }
    return render_page(request, "preferences/preferences.html", context, status=status)


def _number_rows(contact: Contact, cards: list) -> list[tuple[numbers.NumberRow, TurnOnForm]]:
    """Marketing per number (`number` stop scope), each with its own turn-on form."""
    marketing = next((c for c in cards if c.purpose == "marketing"), None)
    notice = marketing.notice_to_accept.ref if marketing and marketing.notice_to_accept else ""
    return [
        (
            row,
            TurnOnForm(
                initial={"purpose": "marketing", "notice": notice},
                auto_id=f"id_marketing_number_{index}_%s",
            ),
        )
        for index, row in enumerate(numbers.number_rows(contact))
    ]


def _change_on_number(
    request: HttpRequest, token: str, contact: Contact, number: str
) -> ConsentEvent | HttpResponse:
    """Marketing turned on or off on one of our numbers only."""
    if not is_our_number(number):
        return _centre(request, token, contact, status=400)
    evidence = _evidence(request, token)
    if request.POST.get("action") == "withdraw":
        return numbers.turn_off_on_number(
            contact=contact, phone_number_id=number, evidence=evidence
        )
    form = TurnOnForm(request.POST)
    if request.POST.get("action") != "grant" or not form.is_valid():
        return _centre(request, token, contact, status=400)
    return numbers.turn_on_on_number(
        contact=contact,
        phone_number_id=number,
        notice=form.cleaned_data["notice"],
        evidence=evidence,
    )


@require_GET
@with_contact
def preference_centre(request: HttpRequest, token: str, contact: Contact) -> HttpResponse:
    return _centre(request, token, contact)


@require_POST
@with_contact
def change_preference(request: HttpRequest, token: str, contact: Contact) -> HttpResponse:
    action = request.POST.get("action")
    purpose = request.POST.get("purpose", "")
    evidence = _evidence(request, token)
    number = storable_text(request.POST.get("sending_number", ""))[:64]
    try:
        if number and purpose == "marketing":
            answer = _change_on_number(request, token, contact, number)
            if isinstance(answer, HttpResponse):
                return answer
            event = answer
        elif action == "grant":
            form: Form = TurnOnForm(request.POST, auto_id=f"id_{purpose}_%s")
            if not form.is_valid():
                return _centre(request, token, contact, failed=(purpose, "on", form), status=400)
            event = preferences.turn_on(
                contact=contact,
                purpose=form.cleaned_data["purpose"],
                notice=form.cleaned_data["notice"],
                evidence=evidence,
            )
        elif action == "withdraw":
            form = TurnOffForm(request.POST)
            if not form.is_valid():
                return _centre(request, token, contact, status=400)
            event = preferences.turn_off(
                contact=contact, purpose=form.cleaned_data["purpose"], evidence=evidence
            )
        elif action == "pause":
            form = PauseForm(request.POST, auto_id=f"id_{purpose}_pause_%s")
            if not form.is_valid():
                return _centre(
                    request, token, contact, failed=("marketing", "pause", form), status=400
                )
            event = preferences.pause_marketing(
                contact=contact, weeks=form.cleaned_data["weeks"], evidence=evidence
            )
        else:
            return _centre(request, token, contact, status=400)
    except (ConsentError, IllegalTransition):
        messages.error(request, _("That change is not possible right now. Please try again."))
        return redirect("consent:preferences", token=token)
    return _to_confirmation(token, event)


@require_POST
@with_contact
def change_topic(request: HttpRequest, token: str, contact: Contact) -> HttpResponse:
    """Keep or leave one topic: back to the centre, at that topic, saying what resulted."""
    on = request.POST.get("action") == "grant"
    form = (TopicOnForm if on else TopicOffForm)(request.POST)
    if not form.is_valid():
        return _centre(request, token, contact, status=400, topic_form=form)
    topic = form.cleaned_data["topic"]
    evidence = _evidence(request, token)
    try:
        if on:
            preferences.turn_topic_on(
                contact=contact, topic=topic, notice=form.cleaned_data["notice"], evidence=evidence
            )
        else:
            preferences.turn_topic_off(contact=contact, topic=topic, evidence=evidence)
    except ConsentError:
        messages.error(request, _("That change is not possible right now. Please try again."))
        return redirect("consent:preferences", token=token)
    name = topic.name(translation.get_language() or "en")
    status = preferences.topic_status(contact, topic)
    messages.success(request, wording.topic_confirmation(name=name, status=status))
    url = reverse("consent:preferences", kwargs={"token": token})
    return redirect(f"{url}#topic-{topic.purpose}-{topic.key}")


def _to_confirmation(token: str, event: ConsentEvent) -> HttpResponse:
    receipt = signing.dumps({"e": str(event.pk)}, salt=RECEIPT_SALT)
    url = reverse("consent:confirmation", kwargs={"token": token})
    return redirect(f"{url}?{urlencode({'r': receipt})}")


def _event_for_receipt(receipt: str, contact: Contact) -> ConsentEvent | None:
    try:
        event_id = signing.loads(receipt, salt=RECEIPT_SALT, max_age=RECEIPT_MAX_AGE)["e"]
    except (signing.BadSignature, KeyError, TypeError):
        return None
    return (
        ConsentEvent.objects.filter(pk=event_id, contact=contact).select_related("notice").first()
    )


@require_GET
@with_contact
def confirmation(request: HttpRequest, token: str, contact: Contact) -> HttpResponse:
    receipt = request.GET.get("r", "")
    event = _event_for_receipt(receipt, contact)
    if event is None:
        return redirect("consent:preferences", token=token)
    return _confirmation_page(request, token, event, receipt)


def _confirmation_page(request, token, event, receipt, undo_form=None, status=200):
    can_undo = preferences.can_undo(event)
    notice = (
        preferences.undo_notice(event, language=translation.get_language()) if can_undo else None
    )
    context = {
        "token": token,
        "event": event,
        "message": wording.change_confirmation(
            purpose=event.purpose,
            status=preferences.resulting_status(event),
            paused_until=event.paused_until,
        ),
        "undone": bool(event.context.get("undoes")),
        "undo_notice": notice,
        "undo_form": undo_form or UndoForm(initial={"receipt": receipt}),
        "undo_minutes": settings.PREFERENCE_UNDO_MINUTES,
    }
    return render_page(request, "preferences/confirmation.html", context, status=status)


@require_POST
@with_contact
def undo_opt_out(request: HttpRequest, token: str, contact: Contact) -> HttpResponse:
    form = UndoForm(request.POST)
    receipt = request.POST.get("receipt", "")
    event = _event_for_receipt(receipt, contact)
    if event is None:
        return redirect("consent:preferences", token=token)
    if not form.is_valid():
        return _confirmation_page(request, token, event, receipt, undo_form=form, status=400)
    notice = preferences.undo_notice(event, language=translation.get_language())
    try:
        grant = preferences.undo_opt_out(
            event=event, notice=notice, evidence=_evidence(request, token)
        )
    except (ConsentError, IllegalTransition):
        messages.error(
            request,
            _("This opt-out can no longer be undone here. You can turn messages on below."),
        )
        return redirect("consent:preferences", token=token)
    return _to_confirmation(token, grant)


# --- Data-subject access -----------------------------------------------------------


@require_GET
@with_contact
def consent_record_json(request: HttpRequest, token: str, contact: Contact) -> HttpResponse:
    record = preferences.consent_record(contact)
    response = HttpResponse(
        json.dumps(record, indent=2, ensure_ascii=False), content_type="application/json"
    )
    response["Content-Disposition"] = 'attachment; filename="my-consent-record.json"'
    return response


@require_GET
@with_contact
def consent_record_html(request: HttpRequest, token: str, contact: Contact) -> HttpResponse:
    context = {
        "token": token,
        "contact": contact,
        "record": preferences.consent_record(contact),
        "history": [
            (event, sentence, wording.how(event.source))
            for event, sentence in preferences.history(contact)
        ],
        "verification": verify_record(contact),
    }
    return render_page(request, "preferences/record.html", context)


@require_POST
@with_contact
def request_my_data(request: HttpRequest, token: str, contact: Contact) -> HttpResponse:
    """ "Download my data": a link to everything we hold, sent by WhatsApp (it expires)."""
    try:
        send_copy_link(contact)
    except CopyNotSent:
        logger.info("no copy link sent to contact %s", contact.pk, exc_info=True)
        messages.error(
            request, _("We could not send the link to your WhatsApp. Please contact us.")
        )
    else:
        messages.success(
            request, _("We sent a link to your data to your WhatsApp. It works for a day.")
        )
    return redirect("consent:preferences", token=token)


# --- Group invitations on the preference centre --------------------------------------


def _pending_invitations(contact: Contact) -> list:
    return list(pending_invitations(contact))


@require_POST
@with_contact
def answer_invitation(request: HttpRequest, token: str, contact: Contact) -> HttpResponse:
    answer = request.POST.get("answer")
    invitation_id = request.POST.get("invitation", "")
    invitation = next(
        (i for i in _pending_invitations(contact) if str(i.pk) == invitation_id), None
    )
    if invitation is None or answer not in ("accept", "decline"):
        messages.error(request, _("This invitation is no longer open."))
        return redirect("consent:preferences", token=token)
    group = invitation.group.name
    try:
        respond_to_invitation(
            invitation=invitation,
            answer=answer,
            source="preference_centre",
            evidence=_evidence(request, token, invitation=str(invitation.pk)),
        )
    except GroupFull:
        messages.error(
            request, _("The group is full right now, so we could not add you. Try again later.")
        )
    except GroupError:
        messages.error(request, _("This invitation is no longer open."))
    else:
        if answer == "accept":
            messages.success(request, _("You joined %(group)s.") % {"group": group})
        else:
            messages.success(
                request, _("You declined the invitation to %(group)s.") % {"group": group}
            )
    return redirect("consent:preferences", token=token)


# --- Web opt-in --------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@in_language
def opt_in(request: HttpRequest) -> HttpResponse:
    return _opt_in(request, embed=False)


# The embed lives in a third-party page's iframe, where the browser withholds our
# SameSite CSRF cookie. The form authenticates nobody, so a forged cross-site post
# gains nothing a direct post would not; the signed issue time, honeypot and rate
# limits are what guard it.
@csrf_exempt
@xframe_options_exempt
@require_http_methods(["GET", "POST"])
@in_language
def opt_in_embed(request: HttpRequest) -> HttpResponse:
    response = _opt_in(request, embed=True)
    # django-csp reads this attribute of the response (it ships no types).
    response._csp_replace = {  # type: ignore[attr-defined]
        "frame-ancestors": ["'self'", *settings.OPTIN_EMBED_ORIGINS]
    }
    return response


def _opt_in(request: HttpRequest, *, embed: bool) -> HttpResponse:
    template = "preferences/opt_in_embed.html" if embed else "preferences/opt_in.html"
    language = translation.get_language()
    if request.method == "GET":
        sent = request.GET.get("sent") == "1"
        form = OptInForm(language=language)
        return _opt_in_page(request, template, form, sent=sent)

    wait = first_limit_hit([("optin_ip", client_ip(request))])
    if wait is not None:
        return too_many(request, wait)
    form = OptInForm(request.POST, language=language)
    if form.is_spam:
        logger.info("web opt-in honeypot filled from %s", client_ip(request))
        return _opt_in_sent(request)
    if not form.is_valid():
        data = request.POST.copy()
        data["issued"] = issued_token()
        form.data = data
        return _opt_in_page(request, template, form, status=400)
    phone = form.cleaned_data["phone"]
    wait = first_limit_hit([("optin_phone", phone)])
    if wait is not None:
        return too_many(request, wait)
    request_opt_in(
        phone=phone,
        name=form.cleaned_data["name"],
        language=form.cleaned_data["language"],
        notices=form.cleaned_data["notices"],
        evidence=request_evidence(
            request,
            page_url=request.build_absolute_uri(request.path),
            form="embed" if embed else "page",
            embedded_in=storable_text(request.META.get("HTTP_REFERER", "")[:500]) if embed else "",
        ),
    )
    return _opt_in_sent(request)


def _opt_in_sent(request: HttpRequest) -> HttpResponse:
    # Same answer whether the number is new, opted in, opted out or never on WhatsApp:
    # the form reveals nobody's consent, and the page after it says the same to all.
    return redirect(f"{request.path}?sent=1")


def _opt_in_page(request, template, form, *, sent=False, status=200) -> HttpResponse:
    hours = int(pending_max_age().total_seconds() // 3600)
    context = {
        "form": form,
        "sent": sent,
        "pending_hours": hours,
        "start_link": start_link() if sent else None,
    }
    return render_page(request, template, context, status=status)
