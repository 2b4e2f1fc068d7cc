"""The rejected rows of a contact file: to fix and upload again.

The rows as they were uploaded (the file's own columns, in its order) plus a
`problem` column saying, in words, why each was refused. Always CSV (UTF-8), whatever
the upload was; a cell a spreadsheet would run as a formula is escaped as in every
export, and the import reads the escape back.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import IO, Any

from .columns import is_blank
from .reading import ContactFile
from .spreadsheets import escape_formula

PROBLEM_COLUMN = "problem"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return escape_formula(str(value))


def write_rejected_rows(
    path: str, name: str, rejected: dict[int, list[str]], out: IO[bytes]
) -> int:
    """Write the header and each rejected row with its problems; returns how many rows."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    header_written, written = False, 0
    for number, cells in ContactFile(path, name=name).rows():
        if not header_written:
            if is_blank(cells):
                continue
            writer.writerow([*(_text(c) for c in cells), PROBLEM_COLUMN])
            header_written = True
            continue
        problems = rejected.get(number)
        if problems:
            writer.writerow([*(_text(c) for c in cells), escape_formula("; ".join(problems))])
            written += 1
    text.detach()
    return written
