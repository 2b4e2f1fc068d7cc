"""Contacts over the REST API: upsert by phone, list, read, change, erase.

Served by `consent`, not `contacts`: the contact body carries its consent per purpose and
its preference link, the list filters by consent, and an erasure keeps the suppression, so
the endpoint needs both apps and only `consent` may import `contacts`.
"""

from collections.abc import Mapping
from typing import Any, cast

import django_filters
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from api.actors import acting
from api.filters import InstantFilter
from api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from api.models import ApiKey
from api.permissions import holds
from api.scopes import ERASE, LINKS
from contacts.api_fields import PhoneField, PhoneFilter
from contacts.models import Contact
from contacts.services import erase_person, update_contact, upsert_contact
from core.inputs import refuse_unstorable_json

from ..models import ConsentState, TopicState
from ..number_scope import marketing_by_number
from ..preference_links import preference_url
from ..rules import Purpose, Status
from ..selectors import offered_topics
from .serializers import ConsentsSerializer, consent_summary

# --- Serializers -------------------------------------------------------------------


def preference_url_for(contact: Contact) -> str | None:
    if contact.erased_at and not contact.phone:
        return None
    return preference_url(contact)


def may_act_as_the_person(request: Request | None) -> bool:
    """Whether an answer may carry links that act as the person: a key with
    `contacts:links`, or a staff session whose role sees the link on the contact page."""
    if request is None:
        return False
    return holds(request, scope=LINKS, staff_permission="contacts.view_contact")


class NumberAnswerSerializer(serializers.Serializer):
    sending_number = serializers.CharField(help_text="The phone_number_id of one of our numbers.")
    name = serializers.CharField(help_text="Its brand (else label) and display number.")
    allowed = serializers.BooleanField()
    reason = serializers.CharField(help_text="As eligibility answers with `sending_number`.")


class ContactSerializer(serializers.ModelSerializer):
    phone = PhoneField(read_only=True, allow_null=True)
    tags = serializers.SerializerMethodField()
    consents = serializers.SerializerMethodField()
    preference_url = serializers.SerializerMethodField()
    marketing_by_number = serializers.SerializerMethodField(
        help_text="Additive: in `number` stop scope, marketing as each of our numbers answers "
        "it (a stop binds the number it came to); [] in `business` scope."
    )

    class Meta:
        model = Contact
        fields = [
            "id",
            "phone",
            "wa_id",
            "whatsapp_user_id",
            "name",
            "language",
            "external_id",
            "tags",
            "attributes",
            "consents",
            "preference_url",
            "created_at",
            "updated_at",
            "marketing_by_number",
        ]
        read_only_fields = fields

    def get_tags(self, contact: Contact) -> list[str]:
        return sorted(tag.name for tag in contact.tags.all())

    @extend_schema_field(ConsentsSerializer)
    def get_consents(self, contact: Contact) -> dict[str, Any]:
        states = {state.purpose: state for state in contact.consent_states.all()}
        # Read once per response, however many contacts it lists.
        offered = getattr(self.root, "offered_topics", None)
        if offered is None:
            offered = list(offered_topics())
            setattr(self.root, "offered_topics", offered)  # noqa: B010 (not a declared field)
        answered = list(contact.topic_states.all())
        return {
            purpose: consent_summary(
                states.get(purpose),
                [t for t in offered if t.purpose == purpose],
                [s for s in answered if s.topic.purpose == purpose],
            )
            for purpose in Purpose.values
        }

    @extend_schema_field(NumberAnswerSerializer(many=True))
    def get_marketing_by_number(self, contact: Contact) -> list[dict[str, Any]]:
        return [
            {
                "sending_number": answer.phone_number_id,
                "name": answer.name,
                "allowed": answer.decision.allowed,
                "reason": answer.decision.reason,
            }
            for answer in marketing_by_number(contact.pk)
        ]

    @extend_schema_field(
        serializers.URLField(
            allow_null=True,
            help_text=f"The person's preference centre: whoever holds it acts as the person. "
            f"Only for keys with the `{LINKS}` scope (and staff whose role sees contacts); "
            "null otherwise.",
        )
    )
    def get_preference_url(self, contact: Contact) -> str | None:
        if not may_act_as_the_person(self.context.get("request")):
            return None
        return preference_url_for(contact)


TAG = serializers.RegexField(r"^[-a-zA-Z0-9_]{1,64}$", max_length=64)


class ContactChangeSerializer(serializers.Serializer):
    """Fields an integration may set; only those sent are changed."""

    name = serializers.CharField(max_length=200, allow_blank=True, required=False)
    language = serializers.RegexField(
        r"^[a-zA-Z]{2,3}([-_][a-zA-Z0-9]{2,8})*$", max_length=16, required=False
    )
    external_id = serializers.CharField(
        max_length=128, allow_null=True, allow_blank=True, required=False
    )
    tags = serializers.ListField(child=TAG, max_length=100, required=False)
    # Keys and values as stored in JSONB: no NUL, no lone surrogate, no deeper than the
    # parser allows (core.inputs).
    attributes = serializers.DictField(required=False, validators=[refuse_unstorable_json])

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("external_id") == "":
            attrs["external_id"] = None
        return attrs


class ContactUpsertSerializer(ContactChangeSerializer):
    phone = PhoneField()


# --- Filters -----------------------------------------------------------------------


class ContactFilter(django_filters.FilterSet):
    phone = PhoneFilter()
    tag = django_filters.CharFilter(field_name="tags__name", help_text="A tag name.")
    marketing = django_filters.ChoiceFilter(
        choices=Status.choices, method="filter_consent", help_text="Marketing consent status."
    )
    service = django_filters.ChoiceFilter(
        choices=Status.choices, method="filter_consent", help_text="Service consent status."
    )
    calls = django_filters.ChoiceFilter(
        choices=Status.choices,
        method="filter_consent",
        help_text="Call permission status (as stored: a lapsed one reads opted_in until the "
        "sweep records its expiry; eligibility answers from expires_at).",
    )
    updated_since = InstantFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Contact
        fields = ["phone", "tag", "marketing", "service", "calls", "updated_since"]

    def filter_consent(self, queryset: QuerySet[Contact], purpose: str, value: str):
        states = ConsentState.objects.filter(contact=OuterRef("pk"), purpose=purpose)
        if value == Status.NONE:
            # No row is the same as "none": nothing was ever recorded for the purpose.
            return queryset.filter(~Exists(states.exclude(status=Status.NONE)))
        return queryset.filter(Exists(states.filter(status=value)))


# --- Views ---------------------------------------------------------------------------


def visible_contacts() -> QuerySet[Contact]:
    """Contacts as the API shows them: an erased person is gone until their number returns."""
    return Contact.objects.filter(
        Q(erased_at__isnull=True) | Q(phone__isnull=False)
    ).prefetch_related(
        "tags",
        Prefetch("consent_states", queryset=ConsentState.objects.select_related("notice")),
        Prefetch(
            "topic_states", queryset=TopicState.objects.select_related("topic", "notice__topic")
        ),
    )


# What a client does next with an upserted contact (OpenAPI links, api.schema).
CONTACT_LINKS = {
    "RecordConsent": {
        "operationId": "consent_events_create",
        "description": "Record this person's consent (the body's other fields as usual).",
        "requestBody": {"phone": "$response.body#/phone"},
    },
    "AskEligibility": {
        "operationId": "eligibility_retrieve",
        "parameters": {"query.phone": "$response.body#/phone"},
    },
    "GetContact": {
        "operationId": "contacts_retrieve",
        "parameters": {"path.id": "$response.body#/id"},
    },
}

CONTACT_EXAMPLE = OpenApiExample(
    "Upsert",
    value={
        "phone": "+447911123456",
        "name": "Ada",
        "language": "en",
        "external_id": "crm-42",
        "tags": ["vip"],
        "attributes": {"city": "Leeds"},
    },
    request_only=True,
)


@extend_schema_view(
    list=extend_schema(summary="List contacts", description="Newest first, cursor-paginated."),
    retrieve=extend_schema(summary="One contact"),
    create=extend_schema(
        summary="Upsert a contact by phone",
        request=ContactUpsertSerializer,
        responses={
            201: OpenApiResponse(ContactSerializer, description="Created."),
            200: OpenApiResponse(ContactSerializer, description="Existing phone; fields updated."),
        },
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[CONTACT_EXAMPLE],
    ),
    partial_update=extend_schema(
        summary="Change a contact", request=ContactChangeSerializer, responses=ContactSerializer
    ),
    destroy=extend_schema(
        summary="Erase a contact",
        description=(
            "Needs the `contacts:erase` scope (staff: the Compliance role). "
            "Pseudonymises the person (phone → keyed hash; name, ids, attributes, tags cleared) "
            "and keeps the consent ledger, so an erased number that had opted out still reads "
            "as opted out."
        ),
        responses={204: None},
    ),
)
@extend_validation_errors(["invalid_phone"], field_name="phone", actions=["list"])
@extend_validation_errors(["read_only"], field_name="phone", actions=["partial_update"])
@extend_validation_errors(
    ["null_characters_not_allowed"], field_name="attributes", actions=["create", "partial_update"]
)
@extend_validation_errors(
    ["unique"], field_name="external_id", actions=["create", "partial_update"]
)
class ContactViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    scope_prefix = "contacts"
    required_scopes = {"DELETE": ERASE}
    staff_permissions = {
        "list": ("contacts.view_contact",),
        "retrieve": ("contacts.view_contact",),
        # An upsert creates or changes: the admin asks for both.
        "create": ("contacts.add_contact", "contacts.change_contact"),
        "partial_update": ("contacts.change_contact",),
        "destroy": ("contacts.erase_contact",),
    }
    serializer_class = ContactSerializer
    filterset_class = ContactFilter
    lookup_value_converter = "uuid"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    conflict_methods = ("POST", "PATCH")
    openapi_links = {"create": {code: CONTACT_LINKS for code in ("200", "201")}}

    def get_queryset(self) -> QuerySet[Contact]:
        return visible_contacts()

    @idempotent
    def create(self, request: Request) -> Response:
        given = ContactUpsertSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        contact, created = upsert_contact(**given.validated_data, actor=acting(request))
        body = self.get_serializer(self.get_queryset().get(pk=contact.pk)).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    def partial_update(self, request: Request, pk: str) -> Response:
        contact = self.get_object()
        given = ContactChangeSerializer(data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        # A phone sent here is refused by the service (PhoneNeverChanges), as in the admin.
        data = cast(Mapping[str, Any], request.data)  # validated above: a JSON object
        phone = {"phone": data["phone"]} if "phone" in data else {}
        update_contact(contact=contact, actor=acting(request), **phone, **given.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=contact.pk)).data)

    def destroy(self, request: Request, pk: str) -> Response:
        contact = self.get_object()
        erase_person(contact=contact, erased_by=_actor_label(request), actor=acting(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _actor_label(request: Request) -> str:
    # Of the configured authentications only ApiKeyAuthentication sets `auth`.
    if isinstance(request.auth, ApiKey):
        return f"api key {request.auth.name} ({request.auth.prefix})"
    return request.user.get_username()
