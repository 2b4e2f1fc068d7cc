"""Work waiting for a person: outranked opt-outs, likely duplicates, deadline extensions.

Imported by consent/admin.py (Django discovers only `admin` modules).
"""

from typing import cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.timezone import localtime
from unfold.admin import ModelAdmin
from unfold.widgets import (
    UnfoldAdminRadioSelectWidget,
    UnfoldAdminSplitDateTimeWidget,
    UnfoldAdminTextareaWidget,
)

from contacts.models import IdentityChange, LikelyDuplicate
from contacts.services import mark_distinct_people
from core.dates import moment

from ..exceptions import ConsentError
from ..models import OutrankedOptOut, PolicyDeadlineChange
from ..services import extend_policy_deadline, merge_contacts, resolve_outranked_opt_out


def _staff(request: HttpRequest) -> User:
    # The admin site serves only authenticated staff users.
    return cast(User, request.user)


class _ReviewAdmin(ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.action(description="Record these opt-outs now (they apply)", permissions=["change"])
def withdraw_now(modeladmin, request: HttpRequest, queryset: QuerySet) -> None:
    for item in queryset.filter(resolution=OutrankedOptOut.Resolution.PENDING):
        resolve_outranked_opt_out(item=item, withdraw=True, actor=_staff(request))
    modeladmin.message_user(request, "Recorded as opt-outs now.", messages.SUCCESS)


@admin.action(description="Keep the later answer", permissions=["change"])
def keep_later_answer(modeladmin, request: HttpRequest, queryset: QuerySet) -> None:
    for item in queryset.filter(resolution=OutrankedOptOut.Resolution.PENDING):
        resolve_outranked_opt_out(item=item, withdraw=False, actor=_staff(request))
    modeladmin.message_user(request, "The later answers stand.", messages.SUCCESS)


@admin.register(OutrankedOptOut)
class OutrankedOptOutAdmin(_ReviewAdmin):
    """Opt-outs that arrived dated before a later answer: each beside the answer that won."""

    list_display = ["created_at", "contact", "opt_out", "outranked_by_answer", "resolution"]
    list_filter = ["resolution"]
    list_select_related = ["event__contact", "outranked_by"]
    actions = [withdraw_now, keep_later_answer]
    readonly_fields = [
        "event",
        "outranked_by",
        "resolution",
        "resolved_by",
        "resolved_at",
        "resolution_event",
        "created_at",
    ]

    @admin.display(description="Contact")
    def contact(self, obj: OutrankedOptOut):
        return obj.event.contact

    @admin.display(description="Opt-out (not applied)")
    def opt_out(self, obj: OutrankedOptOut) -> str:
        return f"{obj.event} · stated {moment(obj.event.occurred_at)}"

    @admin.display(description="Outranked by")
    def outranked_by_answer(self, obj: OutrankedOptOut) -> str:
        return str(obj.outranked_by) if obj.outranked_by else "—"


class MergeForm(forms.Form):
    survivor = forms.ChoiceField(
        label="Which record survives?", widget=UnfoldAdminRadioSelectWidget, choices=()
    )


@admin.action(description="Merge the pair (most restrictive state wins)", permissions=["change"])
def merge_pairs(modeladmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
    pending = list(queryset.filter(resolution=LikelyDuplicate.Resolution.PENDING)[:1])
    if not pending:
        modeladmin.message_user(request, "Nothing to merge.", messages.WARNING)
        return None
    pair = pending[0]
    form = MergeForm(request.POST if "survivor" in request.POST else None)
    cast(forms.ChoiceField, form.fields["survivor"]).choices = [
        (str(pair.first_id), str(pair.first)),
        (str(pair.second_id), str(pair.second)),
    ]
    if form.is_valid():
        keep = pair.first if form.cleaned_data["survivor"] == str(pair.first_id) else pair.second
        other = pair.second if keep == pair.first else pair.first
        try:
            merge_contacts(duplicate=other, survivor=keep, actor=_staff(request))
        except (ConsentError, ValueError) as error:
            modeladmin.message_user(request, f"Not merged: {error}", messages.ERROR)
            return None
        modeladmin.message_user(request, f"Merged {other} into {keep}.", messages.SUCCESS)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Merge two records of one person",
        "crumbs": [
            ("Likely duplicates", reverse("admin:contacts_likelyduplicate_changelist")),
            (f"{pair.first} and {pair.second}", None),
        ],
        "lead": "Both ledgers stay as they are and still verify. The merged record points at "
        "the survivor; the survivor gets the merged record's opt-outs and pauses, so the most "
        "restrictive state wins. This cannot be undone.",
        "back_url": reverse("admin:contacts_likelyduplicate_changelist"),
        "pair": pair,
        "form": form,
        "action": "merge_pairs",
        "opts": modeladmin.model._meta,
    }
    return render(request, "admin/contacts/likelyduplicate/merge.html", context)


@admin.action(description="Different people: keep both", permissions=["change"])
def mark_distinct(modeladmin, request: HttpRequest, queryset: QuerySet) -> None:
    for pair in queryset.filter(resolution=LikelyDuplicate.Resolution.PENDING):
        mark_distinct_people(pair=pair, actor=_staff(request))
    modeladmin.message_user(request, "Kept as different people.", messages.SUCCESS)


@admin.register(LikelyDuplicate)
class LikelyDuplicateAdmin(_ReviewAdmin):
    """Pairs one delivery's identifiers named together: probably one person."""

    list_display = ["created_at", "first", "second", "evidence", "resolution"]
    list_filter = ["resolution"]
    list_select_related = ["first", "second"]
    actions = [merge_pairs, mark_distinct]
    readonly_fields = ["first", "second", "evidence", "resolution", "resolved_by", "resolved_at"]


@admin.register(IdentityChange)
class IdentityChangeAdmin(_ReviewAdmin):
    list_display = ["recorded_at", "contact", "kind", "old_value", "new_value", "source"]
    list_filter = ["kind", "source"]
    search_fields = ["old_value", "new_value", "wamid"]
    list_select_related = ["contact"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ExtendDeadlineForm(forms.Form):
    new_deadline = forms.SplitDateTimeField(
        label="New deadline", widget=UnfoldAdminSplitDateTimeWidget
    )
    reason = forms.CharField(widget=UnfoldAdminTextareaWidget, max_length=2000)


@admin.action(description="Extend the deadline (legacy consent follows)", permissions=["change"])
def extend_deadline(modeladmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
    policy = queryset.first()
    if policy is None:
        return None
    form = ExtendDeadlineForm(request.POST if "reason" in request.POST else None)
    if form.is_valid():
        try:
            extend_policy_deadline(
                policy=policy,
                new_deadline=form.cleaned_data["new_deadline"],
                reason=form.cleaned_data["reason"],
                actor=_staff(request),
            )
        except ConsentError as error:
            modeladmin.message_user(request, f"Not extended: {error}", messages.ERROR)
            return None
        modeladmin.message_user(request, "Deadline extended.", messages.SUCCESS)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"Extend the deadline of {policy}",
        "crumbs": [
            ("Re-consent policies", reverse("admin:consent_reconsentpolicy_changelist")),
            (str(policy), reverse("admin:consent_reconsentpolicy_change", args=[policy.pk])),
            ("Extend the deadline", None),
        ],
        "lead": f"Current deadline: {date_format(localtime(policy.deadline), 'DATETIME_FORMAT')}. "
        "Legacy consent that runs to it moves to the new deadline; the change is recorded "
        "with your name and reason.",
        "back_url": reverse("admin:consent_reconsentpolicy_changelist"),
        "policy": policy,
        "form": form,
        "action": "extend_deadline",
        "opts": modeladmin.model._meta,
    }
    return render(request, "admin/consent/reconsentpolicy/extend.html", context)


@admin.register(PolicyDeadlineChange)
class PolicyDeadlineChangeAdmin(_ReviewAdmin):
    list_display = ["changed_at", "policy", "old_deadline", "new_deadline", "changed_by", "reason"]
    list_select_related = ["policy", "changed_by"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
