"""Settling a webhook item that holds someone's messages by recording the opt-out it may
carry: the restrictive choice, offered first on the item's page.

Contributed to the webhook items' admin (`whatsapp.admin_settling`): the item is whatsapp's, the
opt-out is consent's. Imported by consent/admin.py (Django discovers only `admin` modules).
"""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminRadioSelectWidget,
    UnfoldAdminTextInputWidget,
)

from contacts.selectors import Identifiers
from whatsapp.admin_settling import (
    InboundAdminPart,
    acting_user,
    contribute_to_inbound_admin,
    item_to_settle,
    item_url,
    not_settled,
    settle_page,
    settled,
)
from whatsapp.models import InboundEvent
from whatsapp.settlement import NotSettleable

from ..holds import NEW_SENDER, NamedPeople, people_named_by, record_opt_out_from_item

MARKETING, EVERYTHING = "marketing", "all"


def _new_contact_label(ids: Identifiers) -> str:
    named = ", ".join(value for value in (ids.wa_id, ids.whatsapp_user_id) if value)
    return f"A new contact for {named} (nobody we know yet)"


class ItemOptOutForm(forms.Form):
    people = forms.MultipleChoiceField(
        label="Who asked to stop",
        help_text="Everyone the item names is ticked: untick only someone it cannot be.",
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
    )
    scope = forms.ChoiceField(
        label="What they stop",
        choices=[
            (MARKETING, "Marketing (as STOP)"),
            (EVERYTHING, "Everything: marketing and service (as STOP ALL)"),
        ],
        initial=MARKETING,
        widget=UnfoldAdminRadioSelectWidget,
    )
    note = forms.CharField(
        label="What you read in it",
        required=False,
        max_length=500,
        help_text="Kept with each opt-out, beside the link to this item.",
        widget=UnfoldAdminTextInputWidget,
    )

    def __init__(self, *args, people: NamedPeople, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = [(str(contact.pk), str(contact)) for contact in people.contacts]
        if people.new_sender:
            choices.append((NEW_SENDER, _new_contact_label(people.new_sender)))
        field = self.fields["people"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = choices
        field.initial = [value for value, _ in choices]


def _names(people: NamedPeople) -> str:
    names = [contact.name or str(contact) for contact in people.contacts]
    if people.new_sender:
        names.append(people.new_sender.wa_id or people.new_sender.whatsapp_user_id or "")
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


@admin.action(description="Record an opt-out for the people it names", permissions=["settle"])
def record_opt_out_for_named(
    modeladmin, request: HttpRequest, queryset: QuerySet
) -> HttpResponse | None:
    item = item_to_settle(modeladmin, request, queryset)
    if item is None:
        return None
    people = people_named_by(item)
    if not people:
        modeladmin.message_user(
            request,
            "It names nobody we know, so no opt-out can be recorded from it. If you can read "
            "a person's number in it, record the opt-out on their contact page, then settle "
            "this item as looked at.",
            messages.WARNING,
        )
        return HttpResponseRedirect(item_url(item))
    form = ItemOptOutForm(request.POST if "confirm" in request.POST else None, people=people)
    if form.is_valid():
        chosen = set(form.cleaned_data["people"])
        try:
            record_opt_out_from_item(
                item=item,
                contacts=[c for c in people.contacts if str(c.pk) in chosen],
                new_sender=people.new_sender if NEW_SENDER in chosen else None,
                stop_all=form.cleaned_data["scope"] == EVERYTHING,
                note=form.cleaned_data["note"],
                actor=acting_user(request),
            )
        except (NotSettleable, ValueError) as error:
            return not_settled(modeladmin, request, item, error)
        return settled(
            modeladmin, request, item, "Opt-out recorded; the item is settled and holds nothing."
        )
    return settle_page(
        modeladmin,
        request,
        item=item,
        action="record_opt_out_for_named",
        title=f"Record an opt-out for {_names(people)}",
        form=form,
        submit_label="Record the opt-out",
        explanation=(
            "Each person ticked gets a withdraw in their consent ledger (source: admin, "
            "recorded by you, with a note naming this item), exactly as if the item had been "
            "processed; then the item is settled. Nothing is sent to them that they stopped."
        ),
    )


def _opt_out_label(item: InboundEvent) -> str:
    people = people_named_by(item)
    if not people:
        return "Record an opt-out (it names nobody we know)"
    return f"Record an opt-out for {_names(people)}"


contribute_to_inbound_admin(
    "consent",
    InboundAdminPart(
        actions=[record_opt_out_for_named],
        labels={"record_opt_out_for_named": _opt_out_label},
    ),
)
