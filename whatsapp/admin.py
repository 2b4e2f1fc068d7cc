from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from unfold.admin import ModelAdmin

from . import messages as messages_
from . import outbox, throttle
from .models import InboundEvent, OutboundMessage, SendingNumber, ServiceWindow
from .services import reprocess_inbound_events


@admin.action(description="Process again (failed or not yet processed)", permissions=["change"])
def reprocess(modeladmin, request: HttpRequest, queryset: QuerySet) -> None:
    ids = list(queryset.values_list("pk", flat=True))
    done = reprocess_inbound_events(ids=ids, actor=request.user)
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
class InboundEventAdmin(ModelAdmin):
    """The raw webhook items: read-only evidence, with a way to re-run processing."""

    list_display = [
        "received_at",
        "kind",
        "wamid",
        "sender",
        "state",
        "carries_opt_out",
        "attempts",
        "retry_at",
        "processed_at",
    ]
    list_filter = [UnprocessedOptOutFilter, "state", "kind", "received_at"]
    # By who sent it: the items that hold a person's messages (see whatsapp.delivery).
    search_fields = ["wamid", "dedupe_key", "sender", "sender_user_id"]
    date_hierarchy = "received_at"
    actions = [reprocess]
    readonly_fields = [
        "kind",
        "dedupe_key",
        "wamid",
        "sender",
        "sender_user_id",
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


def _resolve_unknown(modeladmin, request: HttpRequest, queryset: QuerySet, decide, verb: str):
    unknown = queryset.filter(status=OutboundMessage.Status.UNKNOWN, resolution="")
    done = sum(decide(outbound=row, actor=request.user) for row in unknown)
    ignored = queryset.count() - done
    note = f"; {ignored} left alone (only undecided unknown messages)" if ignored else ""
    modeladmin.message_user(request, f"{verb} {done} message(s){note}.", messages.SUCCESS)


@admin.action(description="Mark sent (it arrived)", permissions=["resolve"])
def mark_sent(modeladmin, request: HttpRequest, queryset: QuerySet) -> None:
    _resolve_unknown(modeladmin, request, queryset, outbox.mark_sent, "Marked sent")


@admin.action(description="Send again (it did not arrive)", permissions=["resolve"])
def send_again(modeladmin, request: HttpRequest, queryset: QuerySet) -> None:
    _resolve_unknown(modeladmin, request, queryset, outbox.send_again, "Queued again")


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ModelAdmin):
    """The outbox. With the console backend, what would have been sent.

    Messages whose fate is unknown (a worker stopped mid-send) are never sent again
    by themselves: filter on "Unknown", then "Mark sent" or "Send again". Who decided,
    and when, stays on the row.
    """

    list_display = [
        "created_at",
        "kind",
        "to",
        "status",
        "attempts",
        "error_code",
        "reason",
        "resolution",
        "resolved_by",
    ]
    list_filter = ["status", "kind", "backend", "resolution", "created_at"]
    search_fields = ["wamid", "to", "=contact_id", "origin"]
    date_hierarchy = "created_at"
    actions = [mark_sent, send_again]
    readonly_fields = [
        "id",
        "wamid",
        "to",
        "contact_id",
        "kind",
        "as_seen",
        "payload",
        "fallback_payload",
        "notice_refs",
        "reason",
        "origin",
        "purpose",
        "backend",
        "phone_number_id",
        "status",
        "skip_reason",
        "error_code",
        "error_title",
        "result",
        "attempts",
        "created_at",
        "next_attempt_at",
        "claimed_at",
        "sent_at",
        "handler_error",
        "resolution",
        "resolved_by",
        "resolved_at",
    ]

    @admin.display(description="as the person sees it")
    def as_seen(self, message: OutboundMessage) -> str:
        return render_to_string(
            "admin/whatsapp/as_seen.html", {"seen": messages_.as_seen(message.payload)}
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("whatsapp.resolve_outboundmessage")


@admin.register(SendingNumber)
class SendingNumberAdmin(ModelAdmin):
    """Throughput per business number, as the platform granted it (80 to 1,000 per second)."""

    list_display = ["phone_number_id", "label", "messages_per_second"]
    search_fields = ["phone_number_id", "label"]

    def save_model(self, request: HttpRequest, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        throttle.forget_rate(obj.phone_number_id)


@admin.register(ServiceWindow)
class ServiceWindowAdmin(ModelAdmin):
    list_display = ["recipient", "last_inbound_at"]
    search_fields = ["recipient"]
    readonly_fields = ["recipient", "last_inbound_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
