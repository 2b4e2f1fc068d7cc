"""The template registry in the admin: read only (WhatsApp owns it), with each change kept."""

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import action, display

from .message_templates import purpose_of
from .models import TemplateChange, WhatsAppTemplate
from .tasks import sync_message_templates


class TemplateChangeInline(TabularInline):
    model = TemplateChange
    fields = ["at", "field", "before", "after", "source"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "history"

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(WhatsAppTemplate)
class WhatsAppTemplateAdmin(ModelAdmin):
    """Synced from the platform and kept current by its webhooks: staff read, never edit."""

    list_display = [
        "name",
        "language",
        "category_label",
        "status_label",
        "quality",
        "upcoming_category",
        "updated_at",
        "last_synced_at",
    ]
    list_filter = ["status", "category", "quality", "language"]
    search_fields = ["name", "template_id"]
    inlines = [TemplateChangeInline]
    actions_list = ["sync_now"]
    readonly_fields = [
        "waba_id",
        "name",
        "language",
        "template_id",
        "category",
        "status",
        "quality",
        "upcoming_category",
        "upcoming_category_at",
        "rejected_reason",
        "parameters",
        "components",
        "last_synced_at",
        "updated_at",
    ]

    @display(description="category", label={"MARKETING": "warning", "UTILITY": "info"})
    def category_label(self, template: WhatsAppTemplate) -> tuple[str, str]:
        purpose = purpose_of(template.category) or "unknown"
        return template.category, f"{template.category} · {purpose} consent"

    @display(
        description="status",
        label={
            "APPROVED": "success",
            "PAUSED": "warning",
            "REJECTED": "danger",
            "DISABLED": "danger",
        },
    )
    def status_label(self, template: WhatsAppTemplate) -> str:
        return template.status

    @action(description="Sync from WhatsApp now", permissions=["view"])
    def sync_now(self, request: HttpRequest):
        sync_message_templates.delay()
        self.message_user(request, "Template sync queued; refresh in a moment.", messages.INFO)
        return HttpResponseRedirect(reverse("admin:whatsapp_whatsapptemplate_changelist"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
