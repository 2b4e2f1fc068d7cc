"""The staging table: checked rows loaded in bulk, matched to contacts and cross-checked in SQL.

PostgreSQL loads it with COPY; SQLite with executemany. The matching and the
checks across rows are the same SQL on both (imports.sql), so both paths see the same
file the same way.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from . import sql
from .columns import ConsentLine, ContactLine
from .copytext import copy_line
from .report import RowProblem

COLUMNS = sql.COLUMNS


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
    sql.load_staged_rows(data)


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


@dataclass(frozen=True)
class CrossCheck:
    problems: list[RowProblem]
    count: int


def duplicates() -> list[CrossCheck]:
    """A person appears once per file: each identifier on one row only.

    Every row a check finds: the report lists the first, the rejected rows file all.
    """
    checks = []
    for column, derived in sql.DUPLICABLE:
        problems = [RowProblem(*row) for row in sql.rows_repeating(column, derived)]
        checks.append(CrossCheck(problems, len(problems)))
    return checks


def conflicts() -> CrossCheck:
    """Rows whose identifiers name two different contacts."""
    vias: dict[int, list[str]] = {}
    for row, via in sql.identifiers_naming_two_contacts():
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
    sql.delete_staged_rows(numbers)


Staged = tuple[ContactLine, "uuid.UUID | None", bool]


def staged_rows(chunk: int, *, leaving_out: str | None = None) -> Iterator[list[tuple]]:
    """The staged rows in file order, in chunks, as raw tuples for `staged_line`.

    `leaving_out`: a table of rownums written already (PostgreSQL only).
    """
    yield from sql.staged_pages(chunk, leaving_out=leaving_out)


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
