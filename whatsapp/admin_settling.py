"""Settling a failed webhook item that holds someone's messages, in the admin.

A failed item that may be an opt-out holds every message to the people it names until a
person has read it and decided. Each decision is an admin action with a confirmation
page (permission "settle") on the webhook items' admin (`whatsapp.admin`): other apps
contribute theirs (consent: record the opt-out, the restrictive choice, offered first);
this module's own is "Looked at: no opt-out in it".
"""

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from unfold.widgets import UnfoldAdminTextareaWidget

from .models import InboundEvent
from .settlement import NotSettleable, Settlement, settle_inbound_event

RAW_SHOWN = 64 * 1024


@dataclass(frozen=True)
class InboundAdminPart:
    """What one app adds to the webhook items' admin: its ways to settle an item.

    Actions declared with `permissions=["settle"]`, shown before this admin's own, in
    the order of the parts' names; each renders `settle_page` and settles one item.
    `labels`: an action's button on an item's page, in words about that item (whom it
    names), by action name; the action's description otherwise.
    """

    actions: Sequence[Callable[..., HttpResponse | None]] = ()
    labels: Mapping[str, Callable[[InboundEvent], str]] = field(default_factory=dict)


_parts: dict[str, InboundAdminPart] = {}


def contribute_to_inbound_admin(name: str, part: InboundAdminPart) -> None:
    """Add `part` to the webhook items' admin; the same `name` again replaces it."""
    _parts[name] = part


def contributed_actions() -> list[Callable[..., HttpResponse | None]]:
    return [action for _, part in sorted(_parts.items()) for action in part.actions]


def button_label(name: str, item: InboundEvent, description: str) -> str:
    for part in _parts.values():
        if name in part.labels:
            return part.labels[name](item)
    return description


def acting_user(request: HttpRequest) -> AbstractBaseUser:
    # The admin site serves only authenticated staff users.
    return cast(AbstractBaseUser, request.user)


def item_to_settle(modeladmin, request: HttpRequest, queryset: QuerySet) -> InboundEvent | None:
    """The one selected item still waiting for a person, or None (the user is told why)."""
    selected = list(queryset[:2])
    if len(selected) != 1:
        modeladmin.message_user(
            request, "Settle one item at a time, after reading it.", messages.WARNING
        )
        return None
    if selected[0].state != InboundEvent.State.FAILED:
        modeladmin.message_user(
            request, "Only a failed item waits for a person; this one does not.", messages.WARNING
        )
        return None
    return selected[0]


def raw_text(item: InboundEvent) -> str:
    """What arrived, as text: the unreadable body's bytes, or the item's JSON."""
    if item.kind == InboundEvent.Kind.MALFORMED:
        delivery = item.delivery
        raw = item.body or (bytes(delivery.body).decode("utf-8", "replace") if delivery else "")
    else:
        raw = json.dumps(item.payload, indent=2, ensure_ascii=False) if item.payload else ""
    return raw[:RAW_SHOWN]


def item_url(item: InboundEvent) -> str:
    return reverse("admin:whatsapp_inboundevent_change", args=[item.pk])


def settle_page(
    modeladmin,
    request: HttpRequest,
    *,
    item: InboundEvent,
    action: str,
    title: str,
    form: forms.Form,
    submit_label: str,
    explanation: str,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    """The confirmation page of one decision: what arrived, the decision's form, one button.

    Its form posts back to the list as the same action, with `confirm`.
    """
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": modeladmin.model._meta,
        "item": item,
        "raw": raw_text(item),
        "holds": " ".join([item.sender, item.sender_user_id]).split(),
        "form": form,
        "action": action,
        "submit_label": submit_label,
        "explanation": explanation,
        "item_url": item_url(item),
        "changelist_url": reverse("admin:whatsapp_inboundevent_changelist"),
        "crumbs": [
            ("Inbound events", reverse("admin:whatsapp_inboundevent_changelist")),
            (str(item), item_url(item)),
            ("Settle", None),
        ],
        **(extra or {}),
    }
    return render(request, "admin/whatsapp/inboundevent/settle.html", context)


def settled(modeladmin, request: HttpRequest, item: InboundEvent, text: str) -> HttpResponse:
    modeladmin.message_user(request, text, messages.SUCCESS)
    return HttpResponseRedirect(item_url(item))


def not_settled(modeladmin, request: HttpRequest, item: InboundEvent, error: Exception):
    modeladmin.message_user(request, f"Nothing recorded: {error}", messages.ERROR)
    return HttpResponseRedirect(item_url(item))


class NoOptOutForm(forms.Form):
    reason = forms.CharField(
        label="Why there is no opt-out in it",
        help_text="What you read, and why nobody asked to stop (kept with the item and audited).",
        max_length=2000,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
    )


@admin.action(description="Looked at: no opt-out in it", permissions=["settle"])
def settle_no_opt_out(modeladmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
    item = item_to_settle(modeladmin, request, queryset)
    if item is None:
        return None
    form = NoOptOutForm(request.POST if "confirm" in request.POST else None)
    if form.is_valid():
        try:
            settle_inbound_event(
                item=item,
                settlement=Settlement.NO_OPT_OUT,
                reason=form.cleaned_data["reason"],
                actor=acting_user(request),
            )
        except (NotSettleable, ValueError) as error:
            return not_settled(modeladmin, request, item, error)
        return settled(
            modeladmin, request, item, "Settled: no opt-out in it. It holds nothing now."
        )
    return settle_page(
        modeladmin,
        request,
        item=item,
        action="settle_no_opt_out",
        title="Looked at: no opt-out in it",
        form=form,
        submit_label="Settle: no opt-out in it",
        explanation=(
            "Nobody in it asked to stop. Messages to the people it names go again; the item "
            "is kept as it arrived, with your name, the time and your reason."
        ),
    )
