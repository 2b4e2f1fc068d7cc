from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from consent.models import ConsentState
from contacts.models import Contact

from . import sql
from .models import DashboardSnapshot, StateTally
from .selectors import CHANGE_WINDOWS, dashboard_figures, tally_day
from .sql import fold_state_tallies

# Days kept apart when folding tallies: the widest change the dashboard shows.
KEPT_DAYS = max(CHANGE_WINDOWS) + 1


def refresh_dashboard_snapshot(*, now: datetime | None = None) -> DashboardSnapshot:
    """Recount the dashboard's heavy figures into today's snapshot row."""
    now = now or timezone.now()
    figures = dashboard_figures(now=now)
    with transaction.atomic():
        snapshot, _ = DashboardSnapshot.objects.update_or_create(
            day=timezone.localdate(now), defaults={"taken_at": now, "figures": figures}
        )
    return snapshot


def compact_state_tallies(*, today: date | None = None) -> int:
    """Fold the appended rows into one per (purpose, status, day); days past the widest
    change window into one. Exact under concurrent writers: the DELETE takes only the
    rows its snapshot sees, and rows appended meanwhile stay for the next fold."""
    today = today or tally_day()
    oldest = today - timedelta(days=KEPT_DAYS)
    with transaction.atomic():
        fold_state_tallies(oldest=oldest)
        return StateTally.objects.count()


def forget_tallies_of_an_empty_database(**kwargs: Any) -> None:
    """After `flush` (post_migrate follows it): no contacts, no states, so no tallies.

    SQLite flushes with a DELETE per table in no particular order, and deleting the
    states fires the tally triggers after the tally table may already be empty.
    """
    if not Contact.objects.exists() and not ConsentState.objects.exists():
        StateTally.objects.all().delete()


def keep_tallies_counting(**kwargs: Any) -> None:
    """After every migrate: the tally triggers are in place whatever a migration rebuilt."""
    sql.restore_sqlite_tally_triggers()
