"""The template registry over the REST API (read only): what each template is now, and its history.

Filled by `sync_templates` and the template webhooks (`whatsapp.message_templates`).
"""

from typing import Any

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from whatsapp.message_templates import purpose_of
from whatsapp.models import SendingNumber, TemplateChange, WhatsAppTemplate


class TemplateChangeSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="status, category or quality")
    to = serializers.CharField(source="after")
    at = serializers.DateTimeField()

    def to_representation(self, change: TemplateChange) -> dict[str, Any]:
        data = super().to_representation(change)
        # "from" is a Python keyword: set by hand, in the contract's order.
        return {"field": data["field"], "from": change.before, "to": data["to"], "at": data["at"]}


class HistoryItemSerializer(serializers.Serializer):
    """One change, as the contract names it (for the schema)."""

    field = serializers.CharField()
    to = serializers.CharField()
    at = serializers.DateTimeField()

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.CharField()
        return fields


class TemplateSerializer(serializers.ModelSerializer):
    sending_numbers = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()
    purpose = serializers.SerializerMethodField()

    class Meta:
        model = WhatsAppTemplate
        fields = [
            "name",
            "language",
            "category",
            "status",
            "sending_numbers",
            "updated_at",
            "history",
            # Additive: the consent the category needs, and what the platform says besides.
            "purpose",
            "quality",
            "upcoming_category",
            "upcoming_category_at",
            "waba_id",
            "parameters",
            "last_synced_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_sending_numbers(self, template: WhatsAppTemplate) -> list[str]:
        numbers: dict[str, list[str]] | None = getattr(self, "_numbers_by_waba", None)
        if numbers is None:
            # Once per response: the list serializer shares this child across rows.
            numbers = {}
            self._numbers_by_waba = numbers
            for number, waba in SendingNumber.objects.values_list("phone_number_id", "waba_id"):
                numbers.setdefault(waba, []).append(number)
        return sorted(numbers.get(template.waba_id, []))

    @extend_schema_field(HistoryItemSerializer(many=True))
    def get_history(self, template: WhatsAppTemplate) -> list[dict[str, Any]]:
        return [dict(TemplateChangeSerializer(c).data) for c in template.changes.all()]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_purpose(self, template: WhatsAppTemplate) -> str | None:
        return purpose_of(template.category)


@extend_schema(tags=["templates"])
class TemplateViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    scope_prefix = "campaigns"
    staff_permissions = {"list": ("whatsapp.view_whatsapptemplate",)}
    serializer_class = TemplateSerializer
    filterset_fields = ["name", "language", "category", "status"]
    # Cursor pages need a unique, stable order: the newest change first.
    ordering = ("-updated_at", "-pk")

    def get_queryset(self):
        return WhatsAppTemplate.objects.prefetch_related(
            Prefetch("changes", queryset=TemplateChange.objects.order_by("at", "pk"))
        )

    @extend_schema(
        summary="The template registry: each template's current category and status, "
        "with its history"
    )
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)
