"""Staff are told on the dashboard when a template's category changed under a campaign.

A notice stays until staff dismiss it; one whose change paused the campaign also goes
once the campaign is handled (resumed, cancelled or finished).
"""

from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from staff.audit import record_audit

from .models import CampaignStatus, TemplateChangeNotice


def open_template_notices(limit: int = 20) -> QuerySet[TemplateChangeNotice]:
    """Notices not dismissed whose campaign still waits (or that paused nothing)."""
    return (
        TemplateChangeNotice.objects.filter(dismissed_at__isnull=True)
        .filter(Q(paused=False) | Q(campaign__status=CampaignStatus.PAUSED))
        .select_related("campaign")
        .order_by("-changed_at")[:limit]
    )


def dismiss_template_notice(*, notice: TemplateChangeNotice, actor: Any) -> bool:
    """Staff read it; False when it was dismissed already. Audited."""
    with transaction.atomic():
        dismissed = TemplateChangeNotice.objects.filter(
            pk=notice.pk, dismissed_at__isnull=True
        ).update(dismissed_at=timezone.now(), dismissed_by=actor)
        if dismissed:
            record_audit(
                actor=actor,
                action="dismiss_template_notice",
                obj=notice.campaign,
                before={"notice": str(notice)},
                after={"dismissed": True},
            )
    return bool(dismissed)
