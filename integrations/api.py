"""Webhook endpoints and the change feed over the REST API (API.md, "Telling integrations")."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.actors import acting
from api.errors import validation_error
from api.permissions import holds
from api.scopes import EVIDENCE, WEBHOOKS
from contacts.models import Contact

from . import selectors, services
from .feed import START, Cursor, InvalidCursor
from .models import ChangeType, WebhookEndpoint

EVENTS_HELP = f"Change types to deliver: {', '.join(ChangeType.values)}."


class EndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=ChangeType.choices), help_text=EVENTS_HELP
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "description", "enabled", "disabled_reason", "created_at"]
        read_only_fields = ["id", "disabled_reason", "created_at"]


class NewEndpointSerializer(EndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="Signs every delivery; shown only in this response."
    )

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = [*EndpointSerializer.Meta.read_only_fields, "enabled"]


class EndpointChangeSerializer(serializers.Serializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=ChangeType.choices), required=False
    )
    enabled = serializers.BooleanField(required=False)


class RotatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    secret = serializers.CharField(help_text="The new secret; the old one signs too for 24 h.")
    previous_secret_expires_at = serializers.DateTimeField()


def _invalid(error: services.InvalidEndpoint) -> Exception:
    return validation_error(error.field, str(error), error.code)


@extend_schema_view(
    list=extend_schema(summary="Webhook endpoints"),
    retrieve=extend_schema(summary="One webhook endpoint"),
    create=extend_schema(
        summary="Register a webhook endpoint (its secret is shown only here)",
        responses={201: NewEndpointSerializer},
    ),
    partial_update=extend_schema(
        summary="Change the events or enable / disable",
        request=EndpointChangeSerializer,
        responses=EndpointSerializer,
    ),
    destroy=extend_schema(summary="Remove a webhook endpoint"),
)
class WebhookEndpointViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    # Managing endpoints, reading them included, is one power: their URLs receive everything.
    required_scopes = {method: WEBHOOKS for method in ("GET", "HEAD", "OPTIONS")}
    scope_prefix = "webhooks"
    staff_permissions = {
        "list": ("integrations.view_webhookendpoint",),
        "retrieve": ("integrations.view_webhookendpoint",),
        "create": ("integrations.add_webhookendpoint",),
        "partial_update": ("integrations.change_webhookendpoint",),
        "destroy": ("integrations.delete_webhookendpoint",),
        "rotate_secret": ("integrations.change_webhookendpoint",),
    }
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    serializer_class = EndpointSerializer
    queryset = WebhookEndpoint.objects.all()

    def create(self, request: Request, *args, **kwargs) -> Response:
        data = NewEndpointSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            endpoint = services.register_endpoint(actor=acting(request), **data.validated_data)
        except services.InvalidEndpoint as error:
            raise _invalid(error) from None
        return Response(NewEndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        endpoint = self.get_object()
        data = EndpointChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            endpoint = services.change_endpoint(
                endpoint=endpoint, actor=acting(request), **data.validated_data
            )
        except services.InvalidEndpoint as error:
            raise _invalid(error) from None
        return Response(EndpointSerializer(endpoint).data)

    def perform_destroy(self, instance: WebhookEndpoint) -> None:
        services.remove_endpoint(endpoint=instance, actor=acting(self.request))

    @extend_schema(
        summary="A new secret; the old one still signs for 24 h",
        request=None,
        responses=RotatedSerializer,
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk=None) -> Response:
        endpoint = services.rotate_secret(endpoint=self.get_object(), actor=acting(request))
        return Response(
            RotatedSerializer(
                {
                    "id": endpoint.pk,
                    "secret": endpoint.secret,
                    "previous_secret_expires_at": endpoint.previous_secret_expires_at,
                }
            ).data
        )


class ChangeSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.ChoiceField(choices=ChangeType.choices)
    created_at = serializers.DateTimeField()
    contact = serializers.UUIDField(allow_null=True)
    sequence = serializers.IntegerField(allow_null=True)
    data = serializers.DictField()  # type: ignore[assignment]


class ChangePageSerializer(serializers.Serializer):
    results = ChangeSerializer(many=True)
    next = serializers.CharField(help_text="Pass as `after` to read on; the same when at the end.")


class ChangeFeedView(APIView):
    scope_prefix = "consent"
    staff_permissions = {"GET": ("integrations.view_change",)}

    @extend_schema(
        summary="The change feed, in commit order (never skips a change that commits late)",
        parameters=[
            OpenApiParameter("after", str, description="A cursor from `next`; none: the start."),
            OpenApiParameter("types", str, description="Comma-separated change types."),
            OpenApiParameter("limit", int, description="At most 1000; 100 by default."),
        ],
        responses=ChangePageSerializer,
    )
    def get(self, request: Request) -> Response:
        after = START
        if request.query_params.get("after"):
            try:
                after = Cursor.decode(request.query_params["after"])
            except InvalidCursor as error:
                raise validation_error("after", str(error), "invalid_cursor") from None
        types = [t for t in request.query_params.get("types", "").split(",") if t.strip()]
        unknown = sorted(set(types) - set(ChangeType.values))
        if unknown:
            raise validation_error(
                "types", f"unknown change types: {', '.join(unknown)}", "unknown_event_type"
            )
        try:
            limit = int(request.query_params.get("limit", 100))
        except ValueError:
            raise validation_error("limit", "limit must be a number", "invalid") from None
        if not 1 <= limit <= selectors.MAX_PAGE:
            raise validation_error(
                "limit", f"limit must be between 1 and {selectors.MAX_PAGE}", "invalid"
            )
        page, cursor = selectors.read_feed(after=after, types=types, limit=limit)
        return Response({"results": page, "next": cursor.encode()})


class PersonExportView(APIView):
    scope_prefix = "contacts"
    staff_permissions = {"GET": ("contacts.view_contact",)}

    @extend_schema(
        summary="Everything held about the person (GDPR art. 15), as JSON",
        description=f"Personal evidence and the proof bundle need `{EVIDENCE}` too; without "
        'it they are null and `"evidence_withheld": true`. Every request is audited.',
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, pk) -> Response:
        contact = get_object_or_404(Contact, pk=pk)
        copy = services.export_person(
            contact=contact,
            actor=acting(request),
            with_evidence=holds(request, scope=EVIDENCE, staff_permission="consent.export_proof"),
        )
        return Response(copy)
