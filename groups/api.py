"""Groups over the REST API. Invitations only: nothing here adds anyone to a group; a
membership comes from the invited person's acceptance (`groups.services`)."""

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.actors import acting
from api.errors import Conflict, validation_error
from api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from api.permissions import holds, is_staff_session
from api.scopes import LINKS
from api.serializers import SOURCE_NOT_ALLOWED, ApiSourceField
from consent.services import Evidence
from contacts.api_fields import PhoneField
from contacts.selectors import find_contact_by_phone

from . import selectors, services
from .models import AnswerSource, Group, GroupInvitation, InviteSource, LeaveSource


class GroupSerializer(serializers.ModelSerializer):
    members = serializers.SerializerMethodField(help_text="Current members.")
    invite_link = serializers.SerializerMethodField(
        help_text="The WhatsApp group's invite link, sent only after an invitation is accepted."
    )

    class Meta:
        model = Group
        fields = [
            "id",
            "name",
            "description",
            "purpose",
            "capacity",
            "active",
            "whatsapp_group_id",
            "invite_link",
            "members",
            "created_at",
        ]
        read_only_fields = ["id", "whatsapp_group_id", "invite_link", "members", "created_at"]
        # PostgreSQL's integer column; SQLite would take any size.
        extra_kwargs = {"capacity": {"max_value": 2**31 - 1}}

    def get_members(self, group: Group) -> int:
        return selectors.member_count(group)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_invite_link(self, group: Group) -> str | None:
        return group.invite_link or None


class InvitationSerializer(serializers.ModelSerializer):
    group = serializers.UUIDField(source="group_id", read_only=True)
    phone = serializers.SerializerMethodField()
    accept_url = serializers.SerializerMethodField(
        help_text=f"The invited person's answer page: whoever holds it answers as the person. "
        f"Only for keys with the `{LINKS}` scope (and staff whose role sees invitations); "
        "null otherwise."
    )

    class Meta:
        model = GroupInvitation
        fields = [
            "id",
            "group",
            "phone",
            "status",
            "expires_at",
            "accept_url",
            "sent_at",
            "responded_at",
            "answer_source",
        ]
        read_only_fields = fields

    def get_phone(self, invitation: GroupInvitation) -> str | None:
        phone = invitation.contact.phone
        return str(phone) if phone else None

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_accept_url(self, invitation: GroupInvitation) -> str | None:
        request = self.context.get("request")
        if request is None or not holds(
            request, scope=LINKS, staff_permission="groups.view_groupinvitation"
        ):
            return None
        return invitation.accept_url


class InviteInputSerializer(serializers.Serializer):
    phone = PhoneField()


class InvitationEvidenceSerializer(serializers.Serializer):
    ip = serializers.IPAddressField(allow_blank=True, required=False, default="")
    user_agent = serializers.CharField(
        max_length=2000, allow_blank=True, required=False, default=""
    )
    page_url = serializers.URLField(max_length=2000, allow_blank=True, required=False, default="")
    wamid = serializers.CharField(max_length=256, allow_blank=True, required=False, default="")
    note = serializers.CharField(max_length=5000, allow_blank=True, required=False, default="")


class RespondInputSerializer(serializers.Serializer):
    answer = serializers.ChoiceField(choices=["accept", "decline"])
    # DRF's metaclass pops declared fields, so this does not shadow the base attribute.
    source = ApiSourceField(  # type: ignore[assignment]
        # The person's own pages and buttons are the product's channels, never the API's.
        choices=[(AnswerSource.API.value, AnswerSource.API.label)],
        channels=AnswerSource.values,
        default=AnswerSource.API,
        help_text="`api`; the product's own channels (whatsapp_button, answer_page, "
        "preference_centre): 400 `source_not_allowed`.",
    )
    evidence = InvitationEvidenceSerializer(required=False)


@extend_schema_view(
    list=extend_schema(summary="Groups"),
    retrieve=extend_schema(summary="One group"),
    create=extend_schema(summary="Create a group", parameters=[IDEMPOTENCY_PARAMETER]),
)
class GroupViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    scope_prefix = "groups"
    staff_permissions = {
        "list": ("groups.view_group",),
        "retrieve": ("groups.view_group",),
        "create": ("groups.add_group",),
        "invite": ("groups.add_groupinvitation",),
        "members": ("groups.view_group", "groups.view_groupinvitation"),
    }
    serializer_class = GroupSerializer
    queryset = Group.objects.all()

    @idempotent
    def create(self, request: Request, *args, **kwargs) -> Response:
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer) -> None:
        serializer.instance = services.create_group(
            actor=acting(self.request), **serializer.validated_data
        )

    @extend_schema(
        summary="Invite a contact (they are not a member until they accept)",
        request=InviteInputSerializer,
        responses={201: InvitationSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(detail=True, methods=["post"], url_path="invitations")
    @idempotent
    def invite(self, request: Request, pk=None) -> Response:
        group = self.get_object()
        data = InviteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        contact = find_contact_by_phone(data.validated_data["phone"])
        if contact is None:
            raise validation_error("phone", "No contact has this phone number.", "unknown_contact")
        invitation = services.invite_contact(
            group=group,
            contact=contact,
            invited_by=request.user if request.user.is_authenticated else None,
            source=InviteSource.ADMIN if is_staff_session(request) else InviteSource.API,
            actor=acting(request),
        )
        return Response(
            InvitationSerializer(invitation, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Members: accepted invitations only",
        # A page of them, as every list (found by schemathesis' stateful run).
        responses=InvitationSerializer(many=True),
    )
    @action(detail=True, methods=["get"], url_path="members")
    def members(self, request: Request, pk=None) -> Response:
        group = self.get_object()
        page = self.paginate_queryset(selectors.accepted_invitations(group))
        return self.get_paginated_response(
            InvitationSerializer(page, many=True, context=self.get_serializer_context()).data
        )


@extend_schema_view(retrieve=extend_schema(summary="One invitation"))
@extend_validation_errors([SOURCE_NOT_ALLOWED], field_name="source", actions=["respond"])
class InvitationViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    scope_prefix = "groups"
    # `respond` is the person's answer: no staff role gives it for them, here or in the admin.
    staff_permissions = {
        "retrieve": ("groups.view_groupinvitation",),
        "revoke": ("groups.change_groupinvitation",),
        "leave": ("groups.change_groupmembership",),
    }
    serializer_class = InvitationSerializer
    queryset = GroupInvitation.objects.select_related("contact")

    @extend_schema(
        summary="Revoke a pending invitation",
        request=None,
        responses=InvitationSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def revoke(self, request: Request, pk=None) -> Response:
        invitation = self.get_object()
        services.revoke_invitation(
            invitation=invitation,
            actor=acting(request),
        )
        return Response(
            InvitationSerializer(invitation, context=self.get_serializer_context()).data
        )

    @extend_schema(
        summary="Record the invited person's answer, captured by an integration",
        description="An API key's alone (source `api`): staff never answer for the person.",
        request=RespondInputSerializer,
        responses=InvitationSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def respond(self, request: Request, pk=None) -> Response:
        invitation = self.get_object()
        data = RespondInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.respond_to_invitation(
            invitation=invitation,
            answer=data.validated_data["answer"],
            source=data.validated_data["source"],
            evidence=Evidence(**data.validated_data.get("evidence", {})),
            actor=acting(request),
        )
        return Response(
            InvitationSerializer(invitation, context=self.get_serializer_context()).data
        )

    @extend_schema(
        summary="The member leaves the group (ends the membership of this invitation)",
        request=None,
        responses=InvitationSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def leave(self, request: Request, pk=None) -> Response:
        invitation = self.get_object()
        membership = selectors.membership_of(invitation)
        if membership is None:
            raise Conflict(
                f"the invitation is {invitation.status}: there is no membership to end",
                code="not_a_member",
            )
        source = LeaveSource.ADMIN if is_staff_session(request) else LeaveSource.API
        services.leave_group(membership=membership, source=source, actor=acting(request))
        return Response(
            InvitationSerializer(invitation, context=self.get_serializer_context()).data
        )
