"""The staging table: checked rows loaded in bulk, matched to contacts and cross-checked in SQL.

PostgreSQL loads it with COPY; SQLite with executemany. The matching and the
checks across rows are the same SQL on both, so both paths see the same file
the same way.
"""

# SQL here is built from constants and model metadata only; values go as parameters.
# ruff: noqa: S608

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from .columns import ConsentLine, ContactLine
from .copytext import copy_line
from .report import RowProblem

TABLE = "import_row"
MATCHES = "import_match"
TAKEN = "import_taken"
COLUMNS = (
    "rownum",
    "new_id",
    "link_secret",
    "phone",
    "phone_derived",
    "phone_hash",
    "wa_id",
    "wa_id_derived",
    "whatsapp_user_id",
    "external_id",
    "name",
    "language",
    "tags",
    "attributes",
    "consents",
)
_TYPES = {"rownum": "integer", "phone_derived": "integer", "wa_id_derived": "integer"}


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def create() -> None:
    types = dict(_TYPES)
    if not is_postgres():
        # The rowid: the row path pages through the table between its commits.
        types["rownum"] = "integer PRIMARY KEY"
    columns = ", ".join(f"{name} {types.get(name, 'text')}" for name in COLUMNS)
    # Temporary tables are unlogged and private to this connection; on PostgreSQL
    # they also go at the end of the transaction.
    suffix = " ON COMMIT DROP" if is_postgres() else ""
    drop()
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {TABLE} ({columns}){suffix}")


def drop() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TAKEN}")
        cursor.execute(f"DROP TABLE IF EXISTS {MATCHES}")
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")


def _consents_json(consents: list[ConsentLine]) -> str:
    return json.dumps(
        [
            [
                c.purpose,
                c.action,
                c.occurred_at.isoformat() if c.occurred_at else None,
                c.notice_id,
                c.wording,
                c.origin,
                c.note,
            ]
            for c in consents
        ],
        separators=(",", ":"),
    )


def staged_values(line: ContactLine) -> tuple:
    return (
        line.row,
        str(line.new_id),
        line.link_secret,
        line.phone,
        int(line.phone_derived),
        line.phone_hash,
        line.wa_id,
        int(line.wa_id_derived),
        line.whatsapp_user_id,
        line.external_id,
        line.name,
        line.language,
        ";".join(line.tags),
        json.dumps(line.attributes, separators=(",", ":")) if line.attributes else "",
        _consents_json(line.consents) if line.consents else "",
    )


def encode_staged(lines: list[ContactLine], *, as_text: bool) -> str | list[tuple]:
    """Rows for `load`: COPY text for PostgreSQL (made in a worker), tuples for SQLite."""
    values = [staged_values(line) for line in lines]
    if as_text:
        return "".join(copy_line(v) for v in values)
    return values


def load(data: str | list[tuple]) -> None:
    """Append a batch of checked rows (from `encode_staged`) to the staging table."""
    if not data:
        return
    with connection.cursor() as cursor:
        if isinstance(data, str):
            with cursor.copy(f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                copy.write(data)
        else:
            marks = ", ".join(["%s"] * len(COLUMNS))
            cursor.executemany(f"INSERT INTO {TABLE} VALUES ({marks})", data)


def line_from(values: tuple, *, taken: bool = False) -> ContactLine:
    (
        row,
        new_id,
        link_secret,
        phone,
        phone_derived,
        digest,
        wa_id,
        wa_id_derived,
        user_id,
        external_id,
        name,
        language,
        tags,
        attributes,
        consents,
    ) = values
    return ContactLine(
        row=row,
        phone=phone,
        phone_derived=bool(phone_derived),
        phone_hash=digest,
        wa_id=wa_id,
        wa_id_derived=bool(wa_id_derived),
        wa_id_taken=taken,
        whatsapp_user_id=user_id,
        external_id=external_id,
        name=name or "",
        language=language or "",
        tags=tags.split(";") if tags else [],
        attributes=json.loads(attributes) if attributes else {},
        consents=[
            ConsentLine(
                purpose=purpose,
                action=action,
                occurred_at=datetime.fromisoformat(at) if at else None,
                notice_id=notice_id,
                wording=wording,
                origin=origin,
                note=note,
            )
            for purpose, action, at, notice_id, wording, origin, note in json.loads(consents)
        ]
        if consents
        else [],
        new_id=uuid.UUID(new_id),
        link_secret=link_secret,
    )


# --- Matching and the checks across rows ------------------------------------------------

# Each identifier a row gives, joined to the contact holding it. A merged
# duplicate answers for its survivor (merges keep chains one level deep).
_FOUND = """
    SELECT r.rownum AS rownum, '{via}' AS via,
           CAST(COALESCE(c.merged_into_id, c.id) AS text) AS contact_id,
           CASE WHEN c.erased_at IS NULL THEN 0 ELSE 1 END AS erased
    FROM {table} r JOIN contacts_contact c ON c.{column} = r.{column}{extra}
"""
_IDENTIFIERS = (
    ("phone", "phone_hash", ""),
    # A wa_id we spelled from the phone names nobody: only one the file gives does.
    ("wa_id", "wa_id", " WHERE r.wa_id_derived = 0"),
    ("whatsapp_user_id", "whatsapp_user_id", ""),
    ("external_id", "external_id", ""),
)


def _found_sql() -> str:
    return " UNION ALL ".join(
        _FOUND.format(via=via, column=column, extra=extra, table=TABLE)
        for via, column, extra in _IDENTIFIERS
    )


def match() -> None:
    """Which existing contact each row names (rows naming none make new contacts)."""
    with connection.cursor() as cursor:
        if is_postgres():
            # Temporary tables are never analysed automatically.
            cursor.execute(f"ANALYZE {TABLE}")
        suffix = " ON COMMIT DROP" if is_postgres() else ""
        cursor.execute(
            f"CREATE TEMPORARY TABLE {MATCHES}{suffix} AS "
            "SELECT rownum, MIN(contact_id) AS contact_id, "
            "COUNT(DISTINCT contact_id) AS contacts, MAX(erased) AS erased "
            f"FROM ({_found_sql()}) found GROUP BY rownum"
        )
        cursor.execute(
            f"CREATE TEMPORARY TABLE {TAKEN}{suffix} AS SELECT r.rownum FROM {TABLE} r "
            "JOIN contacts_contact c ON c.wa_id = r.wa_id WHERE r.wa_id_derived = 1"
        )


@dataclass(frozen=True)
class CrossCheck:
    problems: list[RowProblem]
    count: int


def _every(sql: str, params: tuple = ()) -> CrossCheck:
    """Every row the check finds: the report lists the first, the rejected rows file all."""
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} ORDER BY 1", params)
        problems = [RowProblem(*row) for row in cursor.fetchall()]
    return CrossCheck(problems, len(problems))


def duplicates() -> list[CrossCheck]:
    """A person appears once per file: each identifier on one row only."""
    checks = []
    for column, derived in (
        ("phone", ""),
        ("wa_id", "wa_id_derived"),
        ("whatsapp_user_id", ""),
        ("external_id", ""),
    ):
        inner = f" AND {derived} = 0" if derived else ""
        outer = f" AND r.{derived} = 0" if derived else ""
        checks.append(
            _every(
                f"SELECT r.rownum, '{column}', "
                f"'{column} ' || r.{column} || ' is also on row ' || CAST(d.first AS text) "
                "|| ': each person may appear once per file' "
                f"FROM {TABLE} r JOIN (SELECT {column} AS value, MIN(rownum) AS first "
                f"FROM {TABLE} WHERE {column} IS NOT NULL{inner} GROUP BY {column} "
                f"HAVING COUNT(*) > 1) d ON d.value = r.{column} "
                f"WHERE r.rownum <> d.first{outer}"
            )
        )
    return checks


def conflicts() -> CrossCheck:
    """Rows whose identifiers name two different contacts."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT rownum, via FROM ({_found_sql()}) found WHERE rownum IN "
            f"(SELECT rownum FROM {MATCHES} WHERE contacts > 1) ORDER BY rownum, via"
        )
        vias: dict[int, list[str]] = {}
        for row, via in cursor.fetchall():
            vias.setdefault(row, []).append(via)
    problems = [
        RowProblem(
            row,
            names[0],
            f"{', '.join(names)} name different contacts "
            "(merge the duplicates first, or fix the row)",
        )
        for row, names in vias.items()
    ]
    return CrossCheck(problems, len(problems))


def leave_out(rows: Iterable[int]) -> None:
    """Take these rows out of the staging table (valid rows only: they are rejected)."""
    numbers = [(row,) for row in sorted(set(rows))]
    if not numbers:
        return
    with connection.cursor() as cursor:
        for start in range(0, len(numbers), 10_000):
            cursor.executemany(
                f"DELETE FROM {TABLE} WHERE rownum = %s", numbers[start : start + 10_000]
            )


Staged = tuple[ContactLine, "uuid.UUID | None", bool]


def staged_rows(chunk: int, *, leaving_out: str | None = None) -> Iterator[list[tuple]]:
    """The staged rows in file order, in chunks, as raw tuples for `staged_line`.

    `leaving_out`: a table of rownums written already (PostgreSQL only).
    """
    columns = ", ".join(f"r.{name}" for name in COLUMNS)
    select = (
        f"SELECT {columns}, t.rownum, m.contact_id, m.erased FROM {TABLE} r "
        f"LEFT JOIN {MATCHES} m ON m.rownum = r.rownum "
        f"LEFT JOIN {TAKEN} t ON t.rownum = r.rownum"
    )
    if leaving_out:
        select += f" WHERE NOT EXISTS (SELECT 1 FROM {leaving_out} x WHERE x.rownum = r.rownum)"
    yield from _pages(select, chunk)


def staged_line(row: tuple) -> Staged:
    """(the checked row, the contact it names if any, whether that contact was erased)."""
    return (
        line_from(row[: len(COLUMNS)], taken=row[-3] is not None),
        uuid.UUID(str(row[-2])) if row[-2] else None,
        bool(row[-1]),
    )


def named_contact(row: tuple) -> uuid.UUID | None:
    """The existing contact a raw staged row names (None for new ones and erased ones)."""
    return uuid.UUID(str(row[-2])) if row[-2] and not row[-1] else None


def _pages(select: str, chunk: int) -> Iterator[list[tuple]]:
    if is_postgres():
        # A server-side cursor: a million staged rows never sit in memory at once.
        connection.ensure_connection()
        with connection.connection.cursor(name="import_rows") as cursor:
            cursor.itersize = chunk
            cursor.execute(f"{select} ORDER BY r.rownum")
            while rows := cursor.fetchmany(chunk):
                yield rows
        return
    # SQLite commits between pages on the row path, so each page is its own query.
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"{select} WHERE r.rownum > %s ORDER BY r.rownum LIMIT {int(chunk)}", [last]
            )
            rows = cursor.fetchall()
        if not rows:
            return
        last = rows[-1][0]
        yield rows
