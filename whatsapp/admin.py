from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import InboundEvent, OutboundMessage, ServiceWindow
from .services import reprocess_inbound_events


@admin.action(description="Process again (failed or not yet processed)", permissions=["change"])
def reprocess(modeladmin, request: HttpRequest, queryset: QuerySet) -> None:
    ids = list(queryset.values_list("pk", flat=True))
    done = reprocess_inbound_events(ids=ids)
    still_failed = InboundEvent.objects.filter(pk__in=ids, state=InboundEvent.State.FAILED).count()
    level = messages.WARNING if still_failed else messages.SUCCESS
    modeladmin.message_user(
        request, f"Processed {done}; {still_failed} still failing (see their error).", level
    )


class UnprocessedOptOutFilter(admin.SimpleListFilter):
    """Items that failed and may carry an opt-out: a person must look at each one.

    An item nobody could judge (unreadable body, judging failed) counts as one.
    """

    title = "unprocessed opt-outs"
    parameter_name = "unprocessed_opt_out"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return [("yes", "Unprocessed opt-outs")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(state=InboundEvent.State.FAILED, carries_opt_out=True)
        return queryset


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    """The raw webhook items: read-only evidence, with a way to re-run processing."""

    list_display = [
        "received_at",
        "kind",
        "wamid",
        "state",
        "carries_opt_out",
        "attempts",
        "retry_at",
        "processed_at",
    ]
    list_filter = [UnprocessedOptOutFilter, "state", "kind", "received_at"]
    search_fields = ["wamid", "dedupe_key"]
    date_hierarchy = "received_at"
    actions = [reprocess]
    readonly_fields = [
        "kind",
        "dedupe_key",
        "wamid",
        "payload",
        "body",
        "state",
        "error",
        "attempts",
        "received_at",
        "processed_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    """The outbox: with the console backend, what would have been sent."""

    list_display = ["created_at", "kind", "to", "status", "backend", "notice_refs", "reason"]
    list_filter = ["status", "kind", "backend", "created_at"]
    search_fields = ["wamid", "to", "=contact_id"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id",
        "wamid",
        "to",
        "contact_id",
        "kind",
        "payload",
        "notice_refs",
        "reason",
        "backend",
        "status",
        "error_code",
        "error_title",
        "attempts",
        "created_at",
        "sent_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ServiceWindow)
class ServiceWindowAdmin(admin.ModelAdmin):
    list_display = ["recipient", "last_inbound_at"]
    search_fields = ["recipient"]
    readonly_fields = ["recipient", "last_inbound_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
