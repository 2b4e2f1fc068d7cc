"""The console app's hand-written SQL: each statement named for what it does, tables named
by the models, the database vendor decided here."""

from datetime import date

from django.db import connection

from .models import StateTally


def fold_state_tallies(*, oldest: date) -> None:
    """Fold the tally rows into one per (purpose, status, day), days before `oldest` into
    `oldest` (inside the caller's transaction). Exact under concurrent writers: the DELETE
    takes only the rows its snapshot sees; rows appended meanwhile wait for the next fold."""
    table = connection.ops.quote_name(StateTally._meta.db_table)
    with connection.cursor() as cursor:
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
            return
        # SQLite writes one transaction at a time: read, insert, delete is exact.
        cursor.execute(f"SELECT max(id) FROM {table}")  # noqa: S608
        (last,) = cursor.fetchone()
        if last is None:
            return
        cursor.execute(
            f"""
            INSERT INTO {table} (purpose, status, day, delta)
            SELECT purpose, status, max(day, %s), sum(delta) FROM {table} WHERE id <= %s
            GROUP BY 1, 2, 3 HAVING sum(delta) <> 0
            """,  # noqa: S608
            [oldest.isoformat(), last],
        )
        cursor.execute(f"DELETE FROM {table} WHERE id <= %s", [last])  # noqa: S608
