"""Raw-SQL access to the ledger that bypasses the append-only trigger, for tamper tests."""

from contextlib import contextmanager

from django.db import connection

SQLITE_NO_UPDATE = """CREATE TRIGGER consent_event_no_update BEFORE UPDATE ON consent_consentevent
BEGIN SELECT RAISE(ABORT, 'consent events are append-only (UPDATE refused)'); END;"""


@contextmanager
def append_only_trigger_disabled():
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # ALTER TABLE is refused while deferred FK checks of this transaction are pending.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                "ALTER TABLE consent_consentevent DISABLE TRIGGER consent_event_append_only"
            )
            try:
                yield cursor
            finally:
                cursor.execute(
                    "ALTER TABLE consent_consentevent ENABLE TRIGGER consent_event_append_only"
                )
        else:
            cursor.execute("DROP TRIGGER consent_event_no_update")
            try:
                yield cursor
            finally:
                cursor.execute(SQLITE_NO_UPDATE)


def tamper(event_id, column: str, value) -> None:
    with append_only_trigger_disabled() as cursor:
        cursor.execute(
            f"UPDATE consent_consentevent SET {column} = %s WHERE id = %s",  # noqa: S608
            [value, event_id.hex if connection.vendor == "sqlite" else event_id],
        )
