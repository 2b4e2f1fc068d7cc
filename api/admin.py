from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework_api_key.admin import APIKeyModelAdmin
from unfold.admin import ModelAdmin

from staff.audit import record_audit

from .models import ApiKey
from .scopes import DESCRIPTIONS
from .services import revoke_api_keys


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(scope, f"{scope}: {what}") for scope, what in DESCRIPTIONS.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="contacts:erase, contacts:links and consent:evidence are powers apart: "
        "no other scope implies them.",
    )

    class Meta:
        model = ApiKey
        fields = ("name", "scopes", "expiry_date", "revoked")


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin, ModelAdmin):
    """The key is shown once, in the message after creation; only its hash is kept."""

    form = ApiKeyForm
    # The library leaves its ModelAdmin options unannotated, so mypy pins them to its own
    # tuples' exact lengths; any sequence of names is a valid option.
    list_display = (  # type: ignore[assignment]
        "prefix",
        "name",
        "scope_list",
        "created",
        "last_used_at",
        "expiry_date",
        "_has_expired",
        "revoked",
    )
    list_filter = ("revoked", "created")  # type: ignore[assignment]
    actions = ["revoke"]
    # save_model writes create_api_key / change_api_key (staff.admin_audit).
    audits_itself = True

    def get_readonly_fields(self, request: HttpRequest, obj: models.Model | None = None):
        # The library defaults obj to None but annotates it as a Model (implicit Optional).
        fields = (*super().get_readonly_fields(request, obj), "last_used_at")  # type: ignore[arg-type]
        if isinstance(obj, ApiKey) and obj.revoked:
            fields = (*fields, "scopes")
        return fields

    # The library annotates for any AbstractAPIKey; this admin's objects are ApiKeys.
    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:  # type: ignore[override]
        # The admin wraps save_model in the change view's transaction.
        before = None if not change else {"scopes": form.initial.get("scopes")}
        super().save_model(request, obj, form, change)
        record_audit(
            actor=request.user,
            action="change_api_key" if change else "create_api_key",
            obj=obj,
            before=before,
            after={"name": obj.name, "scopes": obj.scopes, "revoked": obj.revoked},
        )

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    @admin.action(description="Revoke the selected keys (cannot be undone)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = revoke_api_keys(keys=queryset, actor=request.user)
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)
