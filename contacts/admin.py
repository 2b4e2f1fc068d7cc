from django.conf import settings
from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from import_export.admin import ExportActionMixin

from api.inputs import StorableJSONFormField
from staff.paginator import EstimatedCountPaginator

from .models import Contact, Erasure, Tag
from .phones import InvalidPhone, normalize_phone, phone_hash
from .resources import ContactExport


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


class LanguageFilter(admin.SimpleListFilter):
    """The configured languages: listing the stored ones would scan every contact."""

    title = "language"
    parameter_name = "language"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return list(settings.LANGUAGES)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(language=self.value()) if self.value() else queryset


class ContactAdmin(ExportActionMixin, admin.ModelAdmin):
    """Contacts as marketing staff see them; `consent` extends it with the ledger."""

    resource_classes = [ContactExport]

    list_display = ["__str__", "phone", "language", "external_id", "created_at"]
    list_filter = ["tags", LanguageFilter]
    # A million contacts: the planner estimates the total, nobody counts it per page.
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    search_fields = ["name", "external_id", "wa_id", "whatsapp_user_id"]
    readonly_fields = ["id", "phone_hash", "erased_at", "created_at", "updated_at"]
    filter_horizontal = ["tags"]
    # `attributes` as JSONB keeps it: no NaN, NUL or 3,000 levels typed into the box.
    formfield_overrides = {models.JSONField: {"form_class": StorableJSONFormField}}
    fieldsets = [
        (None, {"fields": ["id", "phone", "name", "language", "external_id", "tags"]}),
        ("WhatsApp", {"fields": ["wa_id", "whatsapp_user_id", "parent_user_id"]}),
        ("More", {"fields": ["attributes", "erased_at", "created_at", "updated_at"]}),
    ]

    def has_delete_permission(self, request: HttpRequest, obj: Contact | None = None) -> bool:
        # People are erased (pseudonymised, ledger kept), never deleted.
        return False

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("contacts.erase_contact")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        # A phone typed in any format finds the contact (erased ones too) by its keyed
        # hash alone: one index probe, where the LIKE searches would read every row.
        try:
            digest = phone_hash(normalize_phone(search_term.strip()))
        except InvalidPhone:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(phone_hash=digest), False


admin.site.register(Contact, ContactAdmin)


@admin.register(Erasure)
class ErasureAdmin(admin.ModelAdmin):
    list_display = ["contact_id", "erased_at", "erased_by"]
    readonly_fields = ["contact_id", "phone_hash", "erased_at", "erased_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
