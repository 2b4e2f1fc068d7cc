from collections.abc import Callable

from django.contrib import admin
from django.http import HttpRequest
from unfold.admin import ModelAdmin

from .models import AuditEntry

# What another app shows beside its audited objects, by object type ("consent.ConsentEvent":
# the reason staff typed with an opt-out, kept with the event's evidence, not copied here,
# so erasing the evidence also takes it off this list). Given object ids, their words.
AuditDetails = Callable[[list[str]], dict[str, str]]
_details: dict[str, AuditDetails] = {}


def describe_audited(object_type: str, details: AuditDetails) -> None:
    _details[object_type] = details


@admin.register(AuditEntry)
class AuditEntryAdmin(ModelAdmin):
    list_display = ["at", "actor", "action", "object_type", "object_id", "details"]
    list_filter = ["action", "actor_user", "actor_key"]
    search_fields = ["object_id", "actor_key"]
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_changelist_instance(self, request: HttpRequest):
        changelist = super().get_changelist_instance(request)
        # One query per object type on the page, not one per row.
        by_type: dict[str, list[str]] = {}
        for entry in changelist.result_list:
            by_type.setdefault(entry.object_type, []).append(entry.object_id)
        found = {
            (object_type, object_id): words
            for object_type, ids in by_type.items()
            if object_type in _details
            for object_id, words in _details[object_type](ids).items()
        }
        # On the page's own rows (the list iterates the same evaluated queryset).
        for entry in changelist.result_list:
            entry.details_found = found.get((entry.object_type, entry.object_id), "")
        return changelist

    @admin.display(description="details")
    def details(self, entry: AuditEntry) -> str:
        words = getattr(entry, "details_found", "")
        if words:
            return words
        after = entry.after if isinstance(entry.after, dict) else {}
        return ", ".join(f"{k}: {v}" for k, v in after.items() if v not in (None, "", [], {}))

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
