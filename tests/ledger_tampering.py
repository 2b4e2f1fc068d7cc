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


@contextmanager
def every_trigger_off():
    """Raw SQL as an attacker with the database's keys would run it: no trigger, no FK check."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET LOCAL session_replication_role = replica")
            try:
                yield cursor
            finally:
                cursor.execute("SET LOCAL session_replication_role = origin")
        else:
            # SQLite refuses only UPDATE, and checks foreign keys at commit (never, in a test).
            cursor.execute("DROP TRIGGER consent_event_no_update")
            cursor.execute("DROP TRIGGER consent_ledgerseal_no_update")
            try:
                yield cursor
            finally:
                cursor.execute(SQLITE_NO_UPDATE)
                cursor.execute(
                    "CREATE TRIGGER consent_ledgerseal_no_update BEFORE UPDATE ON "
                    "consent_ledgerseal BEGIN SELECT RAISE(ABORT, "
                    "'ledger seals are append-only (UPDATE refused)'); END;"
                )


def _id(value):
    return value.hex if connection.vendor == "sqlite" else value


def delete_chain(contact_id) -> None:
    """The contact's whole ledger gone: its events, their evidence, its states."""
    truncate_chain(contact_id, keep=0)
    with every_trigger_off() as cursor:
        cursor.execute("DELETE FROM consent_consentstate WHERE contact_id = %s", [_id(contact_id)])


def truncate_chain(contact_id, *, keep: int) -> None:
    """Every event after #keep gone, with its evidence."""
    gone = "SELECT id FROM consent_consentevent WHERE contact_id = %s AND seq > %s"
    with every_trigger_off() as cursor:
        for table, column in (
            ("consent_consentevidence", "event_id"),
            ("consent_consentstate", "last_event_id"),
        ):
            cursor.execute(
                f"DELETE FROM {table} WHERE {column} IN ({gone})",  # noqa: S608
                [_id(contact_id), keep],
            )
        cursor.execute(
            "DELETE FROM consent_consentevent WHERE contact_id = %s AND seq > %s",
            [_id(contact_id), keep],
        )


def tamper_seal(seal_id, column: str, value) -> None:
    with every_trigger_off() as cursor:
        cursor.execute(
            f"UPDATE consent_ledgerseal SET {column} = %s WHERE id = %s",  # noqa: S608
            [value, seal_id],
        )
