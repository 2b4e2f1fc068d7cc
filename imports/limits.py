"""What a contact file may be, and the words that say why one was refused.

Every limit is a setting (config/settings.py, IMPORT_*): the file's size, its rows,
its columns, one cell's length, and how far an XLSX workbook may expand when it is
unzipped. The readers stop at the first one crossed, before holding more than that
in memory, and the reason reaches the admin's job page and the command's output.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from openpyxl.utils import get_column_letter

MB = 1024 * 1024
# Parts this small cannot hurt, whatever their ratio (a few repeated bytes zip very well).
RATIO_FLOOR = MB


class UnreadableFile(Exception):
    pass


class FileRefused(UnreadableFile):
    """The file crosses one of the limits; the message says which, in words for staff."""


@dataclass(frozen=True)
class FileLimits:
    file_bytes: int
    rows: int
    columns: int
    cell_chars: int
    xlsx_ratio: int
    xlsx_expanded_bytes: int

    @classmethod
    def from_settings(cls) -> FileLimits:
        return cls(
            file_bytes=int(settings.IMPORT_MAX_FILE_MB * MB),
            rows=settings.IMPORT_MAX_ROWS,
            columns=settings.IMPORT_MAX_COLUMNS,
            cell_chars=settings.IMPORT_MAX_CELL_CHARS,
            xlsx_ratio=settings.IMPORT_XLSX_MAX_RATIO,
            xlsx_expanded_bytes=settings.IMPORT_XLSX_MAX_EXPANDED_MB * MB,
        )

    def expansion_allowed(self, compressed_bytes: int) -> int:
        """How far so many compressed bytes may expand (a small part's ratio never matters)."""
        return max(self.xlsx_ratio * compressed_bytes, RATIO_FLOOR)

    @property
    def record_chars(self) -> int:
        """The longest CSV record within the limits: every cell full, quoted, delimited."""
        return self.columns * (self.cell_chars + 3) + 2

    def summary(self) -> str:
        return (
            f"A file may be {size_in_words(self.file_bytes)} at most, with {self.rows:,} rows "
            f"and {self.columns:,} columns at most, and {self.cell_chars:,} characters in a "
            f"cell; a workbook may unzip to {self.xlsx_ratio:,} times its size and "
            f"{size_in_words(self.xlsx_expanded_bytes)} at most."
        )

    def file_too_large(self, size: int | None = None) -> str:
        if size is None:
            return f"The file is larger than {size_in_words(self.file_bytes)}, the limit."
        return f"The file is {size_in_words(size)}; the limit is {size_in_words(self.file_bytes)}."

    def too_many_rows(self) -> str:
        return f"The file has more than {self.rows:,} rows; the limit is {self.rows:,}."

    def too_many_columns(self, row: int, columns: int) -> str:
        where = "The file has" if row <= 1 else f"Row {row} has"
        return f"{where} {columns:,} columns; the limit is {self.columns:,}."

    def cell_too_long(self, row: int, column: int | None = None) -> str:
        if column is None:
            # Where the CSV reader itself gave up: a long cell, or an open quote.
            return (
                f"Row {row}: a cell holds more than {self.cell_chars:,} characters (is a "
                f"quote never closed?); the limit is {self.cell_chars:,}."
            )
        return (
            f"Row {row}, column {column_name(column)}: a cell holds more than "
            f"{self.cell_chars:,} characters; the limit is {self.cell_chars:,}."
        )

    def record_too_long(self, row: int) -> str:
        return (
            f"Row {row} is longer than {self.record_chars:,} characters: it has more than "
            f"{self.columns:,} columns, a cell longer than {self.cell_chars:,} characters, "
            "or a quote that is never closed."
        )

    def workbook_expands_too_far(self) -> str:
        return (
            f"The workbook expands to more than {size_in_words(self.xlsx_expanded_bytes)}; "
            "it looks like a compressed bomb and was not read."
        )

    def workbook_ratio_too_high(self, ratio: float, *, part: bool = False) -> str:
        what = "A part of the workbook expands" if part else "The workbook expands"
        return (
            f"{what} to {ratio:,.0f} times its compressed size; the limit is "
            f"{self.xlsx_ratio:,}. It looks like a compressed bomb and was not read."
        )


def size_in_words(size: int) -> str:
    if size >= 10 * MB:
        return f"{size / MB:,.0f} MB"
    if size >= MB // 10:
        return f"{size / MB:.1f} MB"
    return f"{size:,} bytes"


def column_name(column: int) -> str:
    """A spreadsheet's name for a column (1 → A), or its number past the last one (XFD)."""
    return get_column_letter(column) if 1 <= column <= 18278 else f"number {column:,}"
