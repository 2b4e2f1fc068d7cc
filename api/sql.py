"""The API's hand-written SQL, the database vendor decided here."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection


@contextmanager
def waiting_at_most(wait: timedelta) -> Iterator[None]:
    """On PostgreSQL, a lock wait longer than `wait` fails instead of hanging (SQLite has
    one writer at a time and its own busy timeout)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = {int(wait.total_seconds() * 1000)}")
    yield
    with connection.cursor() as cursor:
        # The rest of the request's transaction waits on its locks as it always did.
        cursor.execute("SET LOCAL lock_timeout TO DEFAULT")
