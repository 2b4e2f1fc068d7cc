"""A contact's consent at the top of its admin page: state per purpose, the timeline, and
what staff do about it (record an opt-out, pause, the preference link, erase)."""

from datetime import datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import URLPattern, path, reverse
from django.utils.formats import date_format
from django.utils.safestring import mark_safe
from django.utils.timezone import localtime
from django.views.decorators.http import require_POST
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanWidget,
)

from contacts.models import Contact
from contacts.services import erase_person

from ..exceptions import ConsentError, IllegalTransition
from ..labels import label
from ..models import ConsentEvent
from ..preference_links import preference_url
from ..rules import Purpose, Source
from ..selectors import consent_states, offered_topics, topic_states
from ..services import Evidence, pause_marketing, record_opt_out

TIMELINE_EVENTS = 50
PAUSE_WEEKS = [(1, "1 week"), (4, "4 weeks"), (12, "12 weeks")]


class OptOutForm(forms.Form):
    purposes = forms.MultipleChoiceField(
        choices=Purpose.choices,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        label="Purposes",
    )
    reason = forms.CharField(
        max_length=500,
        label="Reason",
        help_text="What the person said, and where (kept with the event).",
        widget=UnfoldAdminTextInputWidget,
    )
    confirm = forms.BooleanField(
        label="The person asked to stop these messages", widget=UnfoldBooleanWidget
    )


class PauseForm(forms.Form):
    weeks = forms.TypedChoiceField(
        choices=PAUSE_WEEKS, coerce=int, label="Pause marketing for", widget=UnfoldAdminSelectWidget
    )


class EraseForm(forms.Form):
    confirm = forms.BooleanField(
        label="Erase this person's data (the ledger is kept, the number stays suppressed)",
        widget=UnfoldBooleanWidget,
    )


def timeline(contact: Contact) -> list[ConsentEvent]:
    """The ledger by effective time, newest first (seq breaks ties); the newest 50."""
    return list(
        ConsentEvent.objects.filter(contact=contact)
        .select_related("notice__topic", "actor", "personal_evidence")
        .order_by("-occurred_at", "-seq")[:TIMELINE_EVENTS]
    )


def staff_note(event: ConsentEvent) -> str:
    """What staff (or the system) wrote with the event: an opt-out's reason, say."""
    try:
        return event.personal_evidence.note
    except ConsentEvent.personal_evidence.RelatedObjectDoesNotExist:
        return ""


def timeline_table(events: list[ConsentEvent]) -> dict:
    """The timeline as the theme's table: each row an event, newest first."""
    rows = []
    for event in events:
        what = label("action", event.action)
        if not event.applied:
            what += " (kept as evidence; a later answer stands)"
        rows.append(
            {
                "cols": [
                    date_format(localtime(event.occurred_at), "DATETIME_FORMAT"),
                    f"#{event.seq}",
                    what,
                    label("purpose", event.purpose) + (f" · {event.topic}" if event.topic else ""),
                    label("source", event.source),
                    label("status", event.status_after),
                    staff_note(event) or "—",
                    str(event.actor) if event.actor else "—",
                ],
                "attrs": {
                    "class": "contact-event"
                    + ("" if event.applied else " contact-event--unapplied"),
                    "data-seq": event.seq,
                },
            }
        )
    headers = ["When", "Seq", "What", "Purpose", "Source", "Then", "Reason or note", "By"]
    return {"headers": headers, "rows": rows}


def contact_topics(contact: Contact) -> list[tuple[str, str, str, datetime | None]]:
    """(purpose label, topic name, status, since) of each topic offered or answered."""
    answered = topic_states(contact)
    rows = []
    for topic in offered_topics():
        state = answered.get(topic.purpose, {}).pop(topic.key, None)
        rows.append((str(Purpose(topic.purpose).label), topic.name("en"), state))
    for by_key in answered.values():
        rows += [
            (str(Purpose(s.topic.purpose).label), s.topic.name("en"), s) for s in by_key.values()
        ]
    return [
        (purpose, name, state.status if state else "none", state.since if state else None)
        for purpose, name, state in rows
    ]


def consent_panel(request: HttpRequest, contact: Contact) -> str:
    may_change = request.user.has_perm("contacts.change_contact")
    context = {
        "contact": contact,
        "states": [(Purpose(p).label, p, s) for p, s in consent_states(contact).items()],
        "topics": contact_topics(contact),
        "timeline": timeline_table(timeline(contact)),
        # Attributes for the theme's button component (it takes them as one string).
        "copy_attrs": mark_safe(
            'type="button" data-copy-target="preference-link" data-copied-label="Copied"'
        ),
        "new_tab_attrs": mark_safe('target="_blank" rel="noopener"'),
        "event_count": ConsentEvent.objects.filter(contact=contact).count(),
        "ledger_url": reverse("admin:consent_consentevent_changelist") + f"?contact={contact.pk}",
        "link": None if contact.erased_at else preference_url(contact),
        "may_change": may_change and contact.erased_at is None,
        "may_erase": request.user.has_perm("contacts.erase_contact") and not contact.erased_at,
        "opt_out_form": OptOutForm(prefix="opt_out"),
        "pause_form": PauseForm(prefix="pause"),
        "erase_form": EraseForm(prefix="erase"),
        "opt_out_url": reverse("admin:contacts_contact_record_opt_out", args=[contact.pk]),
        "pause_url": reverse("admin:contacts_contact_pause", args=[contact.pk]),
        "erase_url": reverse("admin:contacts_contact_erase", args=[contact.pk]),
        "send_link_url": reverse("admin:contacts_contact_send_link", args=[contact.pk]),
    }
    return render_to_string("admin/consent/contact_panel.html", context, request=request)


def _contact(model_admin: admin.ModelAdmin, request: HttpRequest, pk: str, perm: str) -> Contact:
    contact = get_object_or_404(Contact, pk=pk)
    if not request.user.has_perm(perm):
        raise PermissionDenied
    return contact


def _staff(request: HttpRequest) -> AbstractBaseUser:
    """The signed-in staff user (the admin's views let no one else in)."""
    if not isinstance(request.user, AbstractBaseUser):
        raise PermissionDenied
    return request.user


def _back(contact: Contact) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("admin:contacts_contact_change", args=[contact.pk]))


def _refuse(model_admin, request, contact: Contact, form: forms.Form) -> HttpResponseRedirect:
    problems = "; ".join(
        f"{form.fields[name].label if name in form.fields else name}: "
        f"{' '.join(str(e) for e in errors)}"
        for name, errors in form.errors.items()
    )
    model_admin.message_user(request, f"Nothing recorded. {problems}", messages.ERROR)
    return _back(contact)


def contact_action_urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    wrap = model_admin.admin_site.admin_view

    @require_POST
    def opt_out(request: HttpRequest, pk: str) -> HttpResponse:
        contact = _contact(model_admin, request, pk, "contacts.change_contact")
        form = OptOutForm(request.POST, prefix="opt_out")
        if not form.is_valid():
            return _refuse(model_admin, request, contact, form)
        purposes = form.cleaned_data["purposes"]
        # The service writes each event's staff audit row in the event's transaction.
        record_opt_out(
            contacts=[contact],
            purposes=purposes,
            source=Source.ADMIN,
            actor=_staff(request),
            audited=True,
            evidence=Evidence(note=form.cleaned_data["reason"]),
        )
        names = ", ".join(str(Purpose(p).label).lower() for p in purposes)
        model_admin.message_user(request, f"Opt-out of {names} recorded.", messages.SUCCESS)
        return _back(contact)

    @require_POST
    def pause(request: HttpRequest, pk: str) -> HttpResponse:
        contact = _contact(model_admin, request, pk, "contacts.change_contact")
        form = PauseForm(request.POST, prefix="pause")
        if not form.is_valid():
            return _refuse(model_admin, request, contact, form)
        try:
            pause_marketing(
                contact=contact, weeks=form.cleaned_data["weeks"], actor=_staff(request)
            )
        except (ConsentError, IllegalTransition) as exc:
            model_admin.message_user(request, f"Not paused: {exc}", messages.ERROR)
            return _back(contact)
        model_admin.message_user(
            request, f"Marketing paused for {form.cleaned_data['weeks']} week(s).", messages.SUCCESS
        )
        return _back(contact)

    @require_POST
    def erase(request: HttpRequest, pk: str) -> HttpResponse:
        contact = _contact(model_admin, request, pk, "contacts.erase_contact")
        form = EraseForm(request.POST, prefix="erase")
        if not form.is_valid():
            return _refuse(model_admin, request, contact, form)
        erase_person(contact=contact, erased_by=request.user.get_username(), actor=_staff(request))
        model_admin.message_user(request, "Erased; the ledger is kept.", messages.SUCCESS)
        return _back(contact)

    return [
        path("<uuid:pk>/opt-out/", wrap(opt_out), name="contacts_contact_record_opt_out"),
        path("<uuid:pk>/pause/", wrap(pause), name="contacts_contact_pause"),
        path("<uuid:pk>/erase/", wrap(erase), name="contacts_contact_erase"),
    ]
