from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from consent.models import ConsentState
from contacts.models import Contact

from .models import DashboardSnapshot, StateTally
from .selectors import CHANGE_WINDOWS, dashboard_figures, tally_day

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
    table = connection.ops.quote_name(StateTally._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"""
                WITH gone AS (DELETE FROM {table} RETURNING purpose, status, day, delta)
                INSERT INTO {table} (purpose, status, day, delta)
                SELECT purpose, status, greatest(day, %s), sum(delta) FROM gone
                GROUP BY 1, 2, 3 HAVING sum(delta) <> 0
                """,  # noqa: S608
                [oldest],
            )
        else:
            # SQLite writes one transaction at a time: read, delete, insert is exact.
            cursor.execute(f"SELECT max(id) FROM {table}")  # noqa: S608
            (last,) = cursor.fetchone()
            if last is None:
                return 0
            cursor.execute(
                f"""
                INSERT INTO {table} (purpose, status, day, delta)
                SELECT purpose, status, max(day, %s), sum(delta) FROM {table} WHERE id <= %s
                GROUP BY 1, 2, 3 HAVING sum(delta) <> 0
                """,  # noqa: S608
                [oldest.isoformat(), last],
            )
            cursor.execute(f"DELETE FROM {table} WHERE id <= %s", [last])  # noqa: S608
        return StateTally.objects.count()


def forget_tallies_of_an_empty_database(**kwargs: Any) -> None:
    """After `flush` (post_migrate follows it): no contacts, no states, so no tallies.

    SQLite flushes with a DELETE per table in no particular order, and deleting the
    states fires the tally triggers after the tally table may already be empty.
    """
    if not Contact.objects.exists() and not ConsentState.objects.exists():
        StateTally.objects.all().delete()
