from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import InlineModelAdmin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern, reverse
from unfold.admin import ModelAdmin

from core.inputs import StorableJSONFormField
from staff.paginator import EstimatedCountPaginator

from .models import Contact, Erasure, Tag
from .selectors import search_contacts
from .services import refuse_phone_change


@admin.register(Tag)
class TagAdmin(ModelAdmin):
    search_fields = ["name"]


class LanguageFilter(admin.SimpleListFilter):
    """The configured languages: listing the stored ones would scan every contact."""

    title = "language"
    parameter_name = "language"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return list(settings.LANGUAGES)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(language=self.value()) if self.value() else queryset


# --- What other apps add to the contact pages ---------------------------------------


@dataclass(frozen=True)
class ObjectTool:
    """A button above the contact list: a named admin URL, shown to those with `permission`."""

    label: str
    url_name: str
    query: str = ""
    permission: str = ""
    # For what the list shows: the link carries the list's filters, search and ordering,
    # and the label says how many contacts ("Export 1,234 contacts").
    for_the_list: bool = False


@dataclass(frozen=True)
class ContactAdminPart:
    """What one app adds to the contact admin (its ledger, its invitations, its actions)."""

    inlines: Sequence[type[InlineModelAdmin]] = ()
    actions: Sequence[Callable[..., HttpResponseBase | None]] = ()
    # Columns (functions of a contact) shown after the phone; filters after the contact's own.
    list_display: Sequence[Callable[[Contact], Any]] = ()
    list_filter: Sequence[Any] = ()
    prefetch_related: Sequence[str] = ()
    # `@admin.action(permissions=["invite"])` → {"invite": "groups.add_groupinvitation"}.
    action_permissions: Mapping[str, str] = field(default_factory=dict)
    # Extra pages under /admin/contacts/contact/, given the contact admin.
    urls: Callable[[admin.ModelAdmin], list[URLPattern]] | None = None
    object_tools: Sequence[ObjectTool] = ()
    # Sections drawn above a contact's edit form (its consent, its groups): HTML of
    # (request, contact), in the order the parts are named.
    panels: Sequence[Callable[[HttpRequest, Contact], str]] = ()
    # Buttons above one contact's page: named admin URLs taking the contact's id.
    change_tools: Sequence[ObjectTool] = ()


_parts: dict[str, ContactAdminPart] = {}


def for_the_list(tool: ObjectTool, request: HttpRequest, changelist: Any) -> ObjectTool:
    """A tool about the list as the list stands: its query (every page) and its count."""
    if not tool.for_the_list:
        return tool
    query = request.GET.copy()
    query.pop("p", None)
    n = changelist.result_count
    return replace(
        tool,
        label=f"{tool.label} {n:,} contact{'' if n == 1 else 's'}",
        query=query.urlencode(),
    )


def contribute_to_contact_admin(name: str, part: ContactAdminPart) -> None:
    """Add `part` to the contact admin; the same `name` again replaces it (a re-import)."""
    _parts[name] = part


def _contributed() -> list[ContactAdminPart]:
    return [part for _, part in sorted(_parts.items())]


class ContactAdmin(ModelAdmin):
    """Contacts as marketing staff see them, with what other apps contribute.

    The contributions are read when the admin asks for them (checks, URLs, each request), by
    which time every app's admin module is imported: the order of INSTALLED_APPS does not
    matter.
    """

    # Its object tools are the ones other apps contribute (import, export; proof bundle).
    change_list_template = "admin/contacts/contact_change_list.html"
    # What matters first (consent, actions) above the edit form: the contributed panels.
    change_form_template = "admin/contacts/contact_change_form.html"

    own_list_display = ["__str__", "phone", "language_name", "external_id", "created_at"]
    own_list_filter: list[Any] = ["tags", LanguageFilter]
    # A million contacts: the planner estimates the total, nobody counts it per page.
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # The theme renders each cell through templates (~5 ms a row, measured in
    # bench/admin_console.py): 50 rows keep the page well under a second.
    list_per_page = 50
    search_fields = ["name", "external_id", "wa_id", "whatsapp_user_id"]
    readonly_fields = ["id", "phone_hash", "erased_at", "created_at", "updated_at"]
    # A plain multiple select: Django's two-box filter widget fails axe-core (aria, contrast).
    filter_horizontal: list[str] = []
    # `attributes` as JSONB keeps it: no NaN, NUL or 3,000 levels typed into the box.
    formfield_overrides = {models.JSONField: {"form_class": StorableJSONFormField}}
    fieldsets = [
        (None, {"fields": ["id", "phone", "name", "language", "external_id", "tags"]}),
        ("WhatsApp", {"fields": ["wa_id", "whatsapp_user_id", "parent_user_id"]}),
        ("More", {"fields": ["attributes", "erased_at", "created_at", "updated_at"]}),
    ]

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        columns = [column for part in _contributed() for column in part.list_display]
        return [*self.own_list_display[:2], *columns, *self.own_list_display[2:]]

    @admin.display(description="language", ordering="language")
    def language_name(self, contact: Contact) -> str:
        # "Español", not "es"; a code the settings do not name stays as stored.
        return str(dict(settings.LANGUAGES).get(contact.language, contact.language))

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        return [*self.own_list_filter, *(f for part in _contributed() for f in part.list_filter)]

    def get_inlines(self, request: HttpRequest, obj: Contact | None) -> list[Any]:
        return [inline for part in _contributed() for inline in part.inlines]

    @property
    def actions(self) -> list[Any]:
        # Read by Django's own get_actions() and its checks; contributed, never assigned.
        return [action for part in _contributed() for action in part.actions]

    @actions.setter
    def actions(self, value: object) -> None:
        raise AttributeError("contribute actions with contribute_to_contact_admin()")

    def __getattr__(self, name: str) -> Any:
        # The has_<x>_permission that a contributed action's `permissions=[x]` asks for.
        for part in _contributed():
            for permission, perm in part.action_permissions.items():
                if name == f"has_{permission}_permission":
                    return lambda request: request.user.has_perm(perm)
        raise AttributeError(name)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contact]:
        related = [name for part in _contributed() for name in part.prefetch_related]
        queryset = super().get_queryset(request)
        return queryset.prefetch_related(*related) if related else queryset

    def get_urls(self) -> list[URLPattern]:
        pages = [url for part in _contributed() if part.urls for url in part.urls(self)]
        return [*pages, *super().get_urls()]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        tools = [
            tool
            for part in _contributed()
            for tool in part.object_tools
            if not tool.permission or request.user.has_perm(tool.permission)
        ]
        response = super().changelist_view(
            request, {**(extra_context or {}), "contributed_tools": tools}
        )
        shown = getattr(response, "context_data", None) or {}
        if "cl" in shown:
            shown["contributed_tools"] = [for_the_list(t, request, shown["cl"]) for t in tools]
        return response

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Contact | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context["contributed_panels"] = [
                panel(request, obj) for part in _contributed() for panel in part.panels
            ]
        return super().render_change_form(request, context, add, change, form_url, obj)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        tools = [
            (tool.label, reverse(tool.url_name, args=[object_id]))
            for part in _contributed()
            for tool in part.change_tools
            if not tool.permission or request.user.has_perm(tool.permission)
        ]
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "contributed_tools": tools}
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Contact | None = None) -> list[str]:
        # A contact's phone is set once (services.refuse_phone_change): shown, not edited.
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "phone"] if obj is not None else fields

    def save_model(self, request: HttpRequest, obj: Contact, form: Any, change: bool) -> None:
        if change and "phone" in form.changed_data:
            refuse_phone_change(Contact.objects.get(pk=obj.pk), obj.phone)
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request: HttpRequest, obj: Contact | None = None) -> bool:
        # People are erased (pseudonymised, ledger kept), never deleted.
        return False

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("contacts.erase_contact")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        return search_contacts(queryset, search_term), False


admin.site.register(Contact, ContactAdmin)


@admin.register(Erasure)
class ErasureAdmin(ModelAdmin):
    list_display = ["contact_id", "erased_at", "erased_by"]
    readonly_fields = ["contact_id", "phone_hash", "erased_at", "erased_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
