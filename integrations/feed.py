"""The change feed's order and its cursor.

Why not `id` order: an id (a sequence) is taken when a row is inserted, not when its
transaction commits. Writer A takes id 10 and writer B id 11; B commits first; a reader
that saw 11 and moved its cursor past it would never see 10.

What we do instead, on PostgreSQL: every change stores its writing transaction's id
(`pg_current_xact_id()`), and the feed reads in (txid, id) order only the changes whose
transaction is below the visibility horizon (`sql.visibility_horizon`: the oldest transaction
id still running in this database, else the next to be given out): every transaction
below it has ended, so no change can ever appear below it later. A change committed late
holds the horizon back until it commits (or rolls back), then is read at its place. The
cost: while a transaction that wrote anything stays open in this database, the feed waits
for it; changes are that late, never lost. (The server-wide `pg_snapshot_xmin` would also
wait for other databases' transactions: a stuck DROP DATABASE next door stalled it in our
tests.) Changes of one transaction come together, in the order they were written.
Prepared (two-phase) transactions are not counted: the product does not use them.

On SQLite writers are serialised (BEGIN IMMEDIATE), so id order is commit order: the
txid is 0 and the horizon is unbounded.

The cursor is the (txid, id) of the last change read, base64url-encoded: opaque to readers.
"""

import base64
import binascii
from dataclasses import dataclass

from django.db.models import BigIntegerField, Func

from .models import Change


class CurrentTransaction(Func):
    """The writing transaction's id (PostgreSQL's xid8, as a number); 0 elsewhere."""

    output_field = BigIntegerField()

    def as_sql(self, compiler, connection, **extra_context):  # type: ignore[override]
        return "0", []

    def as_postgresql(self, compiler, connection, **extra_context):
        return "pg_current_xact_id()::text::bigint", []


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    txid: int
    id: int

    def encode(self) -> str:
        raw = f"1:{self.txid}:{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            version, txid, id_ = raw.split(":")
            cursor = cls(int(txid), int(id_))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InvalidCursor("not a cursor this feed gave out") from None
        if version != "1" or cursor.txid < 0 or cursor.id < 0 or cursor.txid >= 2**63:
            raise InvalidCursor("not a cursor this feed gave out")
        return cursor

    @classmethod
    def of(cls, change: Change) -> "Cursor":
        return cls(change.txid, change.pk)


START = Cursor(0, 0)
