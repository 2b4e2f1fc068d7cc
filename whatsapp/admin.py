from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from unfold.admin import ModelAdmin

from . import messages as messages_
from . import outbox, routing, throttle
from .admin_settling import button_label, contributed_actions, raw_text, settle_no_opt_out
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
    """The raw webhook items: read-only evidence, with a way to re-run processing.

    A failed item that holds someone's messages is settled by staff after reading it:
    the ways to do so (contributed by other apps, then this admin's own) show on its page
    and in the list's actions, each with a confirmation page.
    """

    change_form_template = "admin/whatsapp/inboundevent/change_form.html"
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
        "settlement",
    ]
    list_filter = [UnprocessedOptOutFilter, "state", "kind", "received_at"]
    # By who sent it: the items that hold a person's messages (see whatsapp.delivery).
    search_fields = ["wamid", "dedupe_key", "sender", "sender_user_id"]
    date_hierarchy = "received_at"
    own_actions = [settle_no_opt_out, reprocess]
    # What arrived and what became of it, then staff's decision: read top to bottom.
    fields = [
        "kind",
        "state",
        "sender",
        "sender_user_id",
        "wamid",
        "dedupe_key",
        "received_at",
        "attempts",
        "retry_at",
        "processed_at",
        "carries_opt_out",
        "error",
        "delivery",
        "payload",
        "raw_body",
        "settlement",
        "settlement_reason",
        "settled_by",
        "settled_at",
    ]
    readonly_fields = [
        "kind",
        "dedupe_key",
        "wamid",
        "sender",
        "sender_user_id",
        "payload",
        "raw_body",
        "state",
        "error",
        "attempts",
        "received_at",
        "processed_at",
        "settlement",
        "settlement_reason",
        "settled_by",
        "settled_at",
    ]

    @property
    def actions(self) -> list[Any]:
        # Read by Django's own get_actions() and its checks; contributed ones first.
        return [*contributed_actions(), *self.own_actions]

    @actions.setter
    def actions(self, value: object) -> None:
        raise AttributeError("contribute actions with contribute_to_inbound_admin()")

    @admin.display(description="raw body (as it arrived)")
    def raw_body(self, item: InboundEvent) -> str:
        if item.kind != InboundEvent.Kind.MALFORMED:
            return "— (readable: see the payload)"
        return raw_text(item) or "— (erased)"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_settle_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("whatsapp.settle_inboundevent")

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def settle_actions(self, request: HttpRequest, item: InboundEvent) -> list[tuple[str, str]]:
        """(name, button label) of the ways this user may settle `item`, restrictive first."""
        available = self.get_actions(request)
        names = [action.__name__ for action in [*contributed_actions(), settle_no_opt_out]]
        return [
            (name, button_label(name, item, str(available[name][2])))
            for name in names
            if name in available
        ]

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: InboundEvent | None = None,
    ) -> HttpResponse:
        if obj is not None and obj.state == InboundEvent.State.FAILED:
            context["settle_actions"] = self.settle_actions(request, obj)
            context["holds"] = " ".join([obj.sender, obj.sender_user_id]).split()
            context["changelist_url"] = reverse("admin:whatsapp_inboundevent_changelist")
        return super().render_change_form(request, context, add, change, form_url, obj)


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

    list_display = [
        "phone_number_id",
        "label",
        "brand",
        "display_phone_number",
        "waba_id",
        "quality",
        "messaging_limit_tier",
        "messages_per_second",
        "marketing_messages_api",
    ]
    search_fields = ["phone_number_id", "label", "brand", "display_phone_number"]
    list_filter = ["brand", "quality", "messaging_limit_tier"]
    # The platform's word on the number (phone_number_quality_update): read, not typed.
    readonly_fields = ["quality", "messaging_limit_tier", "platform_updated_at"]

    def save_model(self, request: HttpRequest, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        throttle.forget_rate(obj.phone_number_id)
        routing.forget_routing(obj.phone_number_id)


@admin.register(ServiceWindow)
class ServiceWindowAdmin(ModelAdmin):
    list_display = ["recipient", "last_inbound_at"]
    search_fields = ["recipient"]
    readonly_fields = ["recipient", "last_inbound_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


from . import admin_templates  # noqa: E402,F401  (registers the template registry's admin)
