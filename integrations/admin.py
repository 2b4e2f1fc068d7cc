"""Webhook endpoints in the admin (compliance): the secret shown once, rotation with an
overlap, enable / disable, "replay from a time"; the delivery log with "resend"."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path
from unfold.admin import ModelAdmin, TabularInline

from contacts.admin import ContactAdminPart, ObjectTool, contribute_to_contact_admin
from contacts.models import Contact

from . import selectors, services
from .models import Change, ChangeType, Delivery, DeliveryAttempt, WebhookEndpoint


class EndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=ChangeType.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "events", "description", "enabled"]

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        url = cleaned.get("url")
        if url and (self.instance._state.adding or url != self.instance.url):
            try:
                services.check_endpoint_url(url)
            except services.UnsafeAddress as refused:
                self.add_error("url", str(refused))
        return cleaned


def _show_secret(request: HttpRequest, endpoint: WebhookEndpoint, what: str) -> None:
    messages.warning(
        request,
        f"{what} for {endpoint.url}: {endpoint.secret} — copy it now: it is not shown again.",
    )


@admin.action(
    description="Rotate the secret (the old one signs too for 24 h)", permissions=["change"]
)
def rotate_secret(modeladmin, request, queryset):
    for endpoint in queryset:
        endpoint = services.rotate_secret(endpoint=endpoint, actor=request.user)
        _show_secret(request, endpoint, "New secret")


@admin.action(description="Enable selected endpoints", permissions=["change"])
def enable(modeladmin, request, queryset):
    for endpoint in queryset:
        services.change_endpoint(endpoint=endpoint, enabled=True, actor=request.user)
    modeladmin.message_user(request, "Enabled; what they were owed is delivered now.")


@admin.action(description="Disable selected endpoints", permissions=["change"])
def disable(modeladmin, request, queryset):
    for endpoint in queryset:
        services.change_endpoint(endpoint=endpoint, enabled=False, actor=request.user)
    modeladmin.message_user(request, "Disabled; their changes are kept and owed.")


class ReplayForm(forms.Form):
    since = forms.DateTimeField(help_text="UTC, e.g. 2026-12-01 00:00")


@admin.action(description="Replay from a time…", permissions=["change"])
def replay_from(modeladmin, request, queryset):
    endpoints = list(queryset)
    form = ReplayForm(request.POST if "confirm" in request.POST else None)
    if form.is_valid():
        for endpoint in endpoints:
            owed = services.replay(
                endpoint=endpoint, since=form.cleaned_data["since"], actor=request.user
            )
            modeladmin.message_user(request, f"{endpoint.url}: {owed} change(s) to deliver again.")
        return None
    return TemplateResponse(
        request,
        "admin/integrations/replay.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": "Replay changes from a time",
            "opts": modeladmin.model._meta,
            "form": form if form.is_bound else ReplayForm(),
            "endpoints": [e.url for e in endpoints],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "selected_ids": [str(e.pk) for e in endpoints],
        },
    )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ModelAdmin):
    form = EndpointForm
    list_display = ["url", "enabled", "events", "failing_since", "disabled_reason", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["url", "description"]
    readonly_fields = ["failing_since", "disabled_reason", "previous_secret_expires_at"]
    actions = [rotate_secret, enable, disable, replay_from]

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        # The URL is where every change goes: a new URL is a new endpoint (and a new secret).
        return [*self.readonly_fields, "url"] if obj is not None else list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form, change: bool) -> None:
        data = form.cleaned_data
        if not change:
            endpoint = services.register_endpoint(
                url=data["url"],
                events=data["events"],
                description=data.get("description", ""),
                actor=request.user,
            )
            if not data.get("enabled", True):
                services.change_endpoint(endpoint=endpoint, enabled=False, actor=request.user)
            obj.pk = endpoint.pk
            _show_secret(request, endpoint, "Secret")
            return
        services.change_endpoint(
            endpoint=obj, events=data["events"], enabled=data["enabled"], actor=request.user
        )
        WebhookEndpoint.objects.filter(pk=obj.pk).update(description=data.get("description", ""))

    def delete_model(self, request: HttpRequest, obj: WebhookEndpoint) -> None:
        services.remove_endpoint(endpoint=obj, actor=request.user)

    def get_actions(self, request: HttpRequest) -> dict:
        # Removing goes through remove_endpoint (audited), one endpoint at a time.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class AttemptInline(TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = [
        "attempted_at",
        "status_code",
        "error",
        "duration_ms",
        "request_headers",
        "response_excerpt",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.action(description="Resend selected deliveries", permissions=["change"])
def resend(modeladmin, request, queryset):
    count = services.resend(deliveries=queryset, actor=request.user)
    modeladmin.message_user(request, f"{count} delivery(ies) will be sent again.")


@admin.register(Delivery)
class DeliveryAdmin(ModelAdmin):
    list_display = [
        "change",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "delivered_at",
        "next_attempt_at",
    ]
    list_filter = ["status", "endpoint"]
    search_fields = ["change__event_id", "contact_id"]
    list_select_related = ["change", "endpoint"]
    inlines = [AttemptInline]
    actions = [resend]
    readonly_fields = [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Change)
class ChangeAdmin(ModelAdmin):
    list_display = ["created_at", "type", "contact_id", "sequence", "event_id"]
    list_filter = ["type"]
    search_fields = ["event_id", "contact__id"]
    readonly_fields = [f.name for f in Change._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


# --- The contact page: which endpoints were told, and the person's own copy ----------------

TOLD_ROWS = 50


def told_panel(request: HttpRequest, contact: Contact) -> str:
    if not request.user.has_perm("integrations.view_delivery"):
        return ""
    rows = list(selectors.deliveries_of_contact(contact.pk)[:TOLD_ROWS])
    return render_to_string("admin/integrations/told_panel.html", {"rows": rows}, request=request)


def person_export_view(request: HttpRequest, pk) -> JsonResponse:
    """The person's own copy as a download (the same JSON as the API's export)."""
    if not request.user.has_perm("contacts.view_contact"):
        raise PermissionDenied
    contact = get_object_or_404(Contact, pk=pk)
    copy = services.export_person(
        contact=contact,
        actor=request.user,
        with_evidence=request.user.has_perm("consent.export_proof"),
    )
    response = JsonResponse(copy, json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="their-data-{contact.pk}.json"'
    return response


contribute_to_contact_admin(
    "integrations",
    ContactAdminPart(
        urls=lambda contact_admin: [
            path(
                "<uuid:pk>/their-data/",
                contact_admin.admin_site.admin_view(person_export_view),
                name="contacts_contact_person_export",
            )
        ],
        panels=[told_panel],
        change_tools=[
            ObjectTool(
                "Their data (JSON)",
                "admin:contacts_contact_person_export",
                permission="contacts.view_contact",
            )
        ],
    ),
)
