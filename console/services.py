from datetime import date, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from consent.models import ConsentEvent, ConsentState
from contacts.models import Contact

from . import sql
from .models import AnswerTally, ReconsentAsked, ReconsentTally, StateTally
from .selectors import CHANGE_WINDOWS, CHART_DAYS, tally_day
from .sql import fold_state_tallies, fold_tally

# Days kept apart when folding tallies: the widest change the dashboard shows.
KEPT_DAYS = max(CHANGE_WINDOWS) + 1


def compact_state_tallies(*, today: date | None = None) -> int:
    """Fold the appended rows into one per (purpose, status, day); days past the widest
    change window into one. Exact under concurrent writers: the DELETE takes only the
    rows its snapshot sees, and rows appended meanwhile stay for the next fold."""
    today = today or tally_day()
    oldest = today - timedelta(days=KEPT_DAYS)
    # Two days' margin: the chart's first day begins at midnight in any staff time zone.
    hours_since = timezone.now() - timedelta(days=CHART_DAYS + 2)
    with transaction.atomic():
        fold_state_tallies(oldest=oldest)
        fold_tally(AnswerTally, since=hours_since)
        fold_tally(ReconsentTally, since=None)
        return StateTally.objects.count()


def recount_dashboard() -> None:
    """Every dashboard tally counted again from what it tallies, in one transaction: after
    a bulk load that bypassed the triggers (`manage.py recount_dashboard`)."""
    with transaction.atomic():
        sql.recount_dashboard_tallies()


def forget_tallies_of_an_empty_database(**kwargs: Any) -> None:
    """After `flush` (post_migrate follows it): no contacts, no states, so no tallies.

    SQLite flushes with a DELETE per table in no particular order, and deleting the
    states fires the tally triggers after the tally table may already be empty.
    """
    if not Contact.objects.exists() and not ConsentState.objects.exists():
        StateTally.objects.all().delete()
    # After a migration backwards, the later tallies' tables may not be there.
    tables = set(connection.introspection.table_names())
    if AnswerTally._meta.db_table in tables and not ConsentEvent.objects.exists():
        AnswerTally.objects.all().delete()
    if ReconsentAsked._meta.db_table in tables and not ReconsentAsked.objects.exists():
        ReconsentTally.objects.all().delete()


def keep_tallies_counting(**kwargs: Any) -> None:
    """After every migrate: the tally triggers are in place whatever a migration rebuilt."""
    sql.restore_sqlite_tally_triggers()


def let_migrations_rebuild_tables(**kwargs: Any) -> None:
    """Before every migrate (SQLite): the triggers that read other apps' tables step aside,
    and come back after it (keep_tallies_counting)."""
    sql.drop_sqlite_triggers_reading_other_apps()
