"""Campaigns over the REST API: read them, with counts per message status, and launch one.

Campaigns are built in the admin; launching here calls the same service as the admin.
"""

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.actors import acting
from api.idempotency import IDEMPOTENCY_PARAMETER, idempotent

from . import selectors, services
from .models import Campaign, MessageStatus


class MessageCountsSerializer(serializers.Serializer):
    """How many of the campaign's messages are in each status."""

    queued = serializers.IntegerField()
    sending = serializers.IntegerField()
    skipped = serializers.IntegerField(help_text="Not allowed by consent at send time.")
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    read = serializers.IntegerField()
    failed = serializers.IntegerField()


class AudienceSerializer(serializers.Serializer):
    tags = serializers.ListField(child=serializers.CharField(), help_text="Any of these tags.")
    attributes = serializers.DictField(
        child=serializers.CharField(), help_text="Every key=value must match."
    )
    consent_states = serializers.ListField(
        child=serializers.CharField(), help_text="Any of these states (empty: any state)."
    )


class CampaignSerializer(serializers.ModelSerializer):
    audience = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()
    sending_number = serializers.SerializerMethodField(
        help_text="Additive: the phone_number_id its messages go out from (the business "
        "default when none was picked)."
    )
    topic: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="key",
        read_only=True,
        allow_null=True,
        help_text="Additive: the key of the topic of its purpose it is sent to (only those who "
        "chose it get it), or null.",
    )

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "kind",
            "purpose",
            "status",
            "template_name",
            "template_language",
            "audience",
            "counts",
            "created_at",
            "launched_at",
            "finished_at",
            # Additive: why a campaign is `paused` (its template paused or re-categorised).
            "paused_reason",
            "sending_number",
            "topic",
        ]
        read_only_fields = fields

    def get_sending_number(self, campaign: Campaign) -> str:
        return campaign.phone_number_id

    @extend_schema_field(AudienceSerializer)
    def get_audience(self, campaign: Campaign) -> dict[str, Any]:
        return {
            "tags": sorted(tag.name for tag in campaign.audience_tags.all()),
            "attributes": campaign.audience_attributes,
            "consent_states": campaign.audience_states,
        }

    @extend_schema_field(MessageCountsSerializer)
    def get_counts(self, campaign: Campaign) -> dict[str, int]:
        if hasattr(campaign, f"count_{MessageStatus.QUEUED}"):
            return selectors.counts_from_annotations(campaign)
        return selectors.campaign_counts(campaign)


@extend_schema(tags=["campaigns"])
class CampaignViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    scope_prefix = "campaigns"
    staff_permissions = {
        "list": ("campaigns.view_campaign",),
        "retrieve": ("campaigns.view_campaign",),
        "launch": ("campaigns.launch_campaign",),
    }
    serializer_class = CampaignSerializer
    filterset_fields = ["status", "kind", "purpose"]

    def get_queryset(self):
        campaigns = Campaign.objects.select_related("sending_number", "topic").prefetch_related(
            "audience_tags"
        )
        return selectors.campaigns_with_counts(campaigns)

    @extend_schema(summary="Campaigns, newest first, with counts per message status")
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="One campaign with counts per message status")
    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Launch a draft campaign (messages go out in the background)",
        request=None,
        parameters=[IDEMPOTENCY_PARAMETER],
        description="Only a draft can be launched; launching again answers 409 "
        "`campaign_already_launched` with the campaign's `current_status`.",
        responses={202: CampaignSerializer},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def launch(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        # A second launch is CampaignNotDraft: 409 with its current status (api.errors).
        campaign = services.launch_campaign(campaign=campaign, actor=acting(request))
        fresh = self.get_queryset().get(pk=campaign.pk)
        return Response(self.get_serializer(fresh).data, status=status.HTTP_202_ACCEPTED)
