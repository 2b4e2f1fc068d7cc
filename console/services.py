from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .models import DashboardSnapshot
from .selectors import dashboard_figures


def refresh_dashboard_snapshot(*, now: datetime | None = None) -> DashboardSnapshot:
    """Recount the dashboard's heavy figures into today's snapshot row."""
    now = now or timezone.now()
    figures = dashboard_figures(now=now)
    with transaction.atomic():
        snapshot, _ = DashboardSnapshot.objects.update_or_create(
            day=timezone.localdate(now), defaults={"taken_at": now, "figures": figures}
        )
    return snapshot
