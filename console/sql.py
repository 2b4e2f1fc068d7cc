"""The console app's hand-written SQL: each statement named for what it does, tables named
by the models, the database vendor decided here."""

from datetime import date

from django.db import connection

from consent.models import ConsentState
from contacts.models import Contact

from .models import StateTally


def _sqlite_tally_triggers() -> list[str]:
    states, contacts = ConsentState._meta.db_table, Contact._meta.db_table
    tally = StateTally._meta.db_table
    return [
        f"""CREATE TRIGGER IF NOT EXISTS console_tally_states_insert AFTER INSERT ON {states}
            BEGIN INSERT INTO {tally} (purpose, status, day, delta)
            VALUES (NEW.purpose, NEW.status, date('now'), 1); END""",  # noqa: S608
        f"""CREATE TRIGGER IF NOT EXISTS console_tally_states_update AFTER UPDATE ON {states}
            WHEN OLD.status IS NOT NEW.status OR OLD.purpose IS NOT NEW.purpose BEGIN
            INSERT INTO {tally} (purpose, status, day, delta)
            VALUES (OLD.purpose, OLD.status, date('now'), -1),
                   (NEW.purpose, NEW.status, date('now'), 1); END""",  # noqa: S608
        f"""CREATE TRIGGER IF NOT EXISTS console_tally_states_delete AFTER DELETE ON {states}
            BEGIN INSERT INTO {tally} (purpose, status, day, delta)
            VALUES (OLD.purpose, OLD.status, date('now'), -1); END""",  # noqa: S608
        f"""CREATE TRIGGER IF NOT EXISTS console_tally_contacts_insert AFTER INSERT ON {contacts}
            BEGIN INSERT INTO {tally} (purpose, status, day, delta)
            VALUES ('', 'contacts', date('now'), 1); END""",  # noqa: S608
        f"""CREATE TRIGGER IF NOT EXISTS console_tally_contacts_delete AFTER DELETE ON {contacts}
            BEGIN INSERT INTO {tally} (purpose, status, day, delta)
            VALUES ('', 'contacts', date('now'), -1); END""",  # noqa: S608
    ]


def restore_sqlite_tally_triggers() -> None:
    """SQLite rebuilds a table to alter it (a later migration adding a column to contacts
    or states) and the rebuilt table has no triggers: put back any that went. The rows
    were copied, not inserted, so the tallies themselves are still exact. PostgreSQL
    alters in place and keeps its triggers."""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for statement in _sqlite_tally_triggers():
            cursor.execute(statement)


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
