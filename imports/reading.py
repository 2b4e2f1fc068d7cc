"""Streaming the rows of a CSV or XLSX file within the file limits, never the whole file."""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .limits import FileLimits, FileRefused, UnreadableFile
from .workbook import Workbook

__all__ = ["ContactFile", "FileRefused", "UnreadableFile"]

XLSX_MAGIC = b"PK\x03\x04"
NOT_UTF8 = "the file is not UTF-8 text (save it as CSV UTF-8)"


class ContactFile:
    """The rows of an uploaded or local file, numbered as a spreadsheet shows them."""

    def __init__(
        self, path: str | os.PathLike, name: str | None = None, limits: FileLimits | None = None
    ) -> None:
        self.path = Path(path)
        self.name = name or self.path.name
        self.limits = limits or FileLimits.from_settings()
        self.size = self.path.stat().st_size
        if self.size > self.limits.file_bytes:
            raise FileRefused(self.limits.file_too_large(self.size))
        with open(self.path, "rb") as handle:
            self.is_xlsx = handle.read(4) == XLSX_MAGIC
        if self.name.lower().endswith((".xlsx", ".xlsm")) and not self.is_xlsx:
            raise UnreadableFile("this is not an XLSX workbook")
        self._done = 0.0
        self._workbook: Workbook | None = None

    @property
    def fraction_read(self) -> float:
        if self._workbook is not None:
            return self._workbook.fraction_read
        return self._done

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """(row number, cells), the header being row 1; at most the row limit of them."""
        rows = self._xlsx_rows() if self.is_xlsx else self._csv_rows()
        for count, (number, cells) in enumerate(rows, start=1):
            # The header and then the limit's worth of rows.
            if count > self.limits.rows + 1:
                raise FileRefused(self.limits.too_many_rows())
            yield number, cells

    def _csv_rows(self) -> Iterator[tuple[int, list[Any]]]:
        limits = self.limits
        # The csv module's own bound on a field (131,072 by default) must not refuse a
        # cell the limit allows; the limit itself is checked below, with its reason.
        if csv.field_size_limit() <= limits.cell_chars:
            csv.field_size_limit(limits.cell_chars + 1)
        with open(self.path, "rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            try:
                sample = text.read(64 * 1024)
            except UnicodeDecodeError:
                raise UnreadableFile(NOT_UTF8) from None
            text.seek(0)
            lines = _BoundedLines(text, limits.record_chars)
            # Only the delimiter is guessed (from the header): the sniffer's guesses about
            # quoting, from one line without quotes, read "O""Brien" as O"Brien".
            reader = csv.reader(lines, csv.excel, delimiter=_delimiter(sample))
            number = 0
            try:
                for number, cells in enumerate(reader, start=1):
                    lines.used = 0
                    if len(cells) > limits.columns:
                        _trim_or_refuse(cells, number, limits)
                    for column, cell in enumerate(cells, start=1):
                        if len(cell) > limits.cell_chars:
                            raise FileRefused(limits.cell_too_long(number, column))
                    if number % 1000 == 0 and self.size:
                        self._done = min(raw.tell() / self.size, 1.0)
                    yield number, cells
            except UnicodeDecodeError:
                raise UnreadableFile(NOT_UTF8) from None
            except _RecordTooLong:
                raise FileRefused(limits.record_too_long(number + 1)) from None
            except csv.Error as exc:
                if "field larger than field limit" in str(exc):
                    raise FileRefused(limits.cell_too_long(number + 1)) from None
                raise UnreadableFile(f"the CSV cannot be read: {exc}") from None
        self._done = 1.0

    def _xlsx_rows(self) -> Iterator[tuple[int, list[Any]]]:
        with open(self.path, "rb") as handle:
            self._workbook = Workbook(handle, self.size, self.limits)
            try:
                yield from self._workbook.rows()
            finally:
                self._workbook.close()


def _delimiter(sample: str) -> str:
    header = sample.split("\n", 1)[0]
    with contextlib.suppress(csv.Error):
        return csv.Sniffer().sniff(header, delimiters=",;\t").delimiter
    return ","


def _trim_or_refuse(cells: list[str], number: int, limits: FileLimits) -> None:
    # Trailing empty cells (a spreadsheet's CSV pads rows) are not columns.
    width = len(cells)
    while width and not cells[width - 1].strip():
        width -= 1
    if width > limits.columns:
        raise FileRefused(limits.too_many_columns(number, width))
    del cells[width:]


class _RecordTooLong(Exception):
    pass


class _BoundedLines:
    """Lines for csv.reader, refusing a record (a row, across quoted line breaks) longer
    than `budget` characters before more of it is read: a row of a million commas, or a
    quote never closed, never sits in memory whole."""

    def __init__(self, text: IO[str], budget: int) -> None:
        self.text = text
        self.budget = budget
        self.used = 0

    def __iter__(self) -> _BoundedLines:
        return self

    def __next__(self) -> str:
        line = self.text.readline(self.budget - self.used + 1)
        if not line:
            raise StopIteration
        self.used += len(line)
        if self.used > self.budget:
            raise _RecordTooLong
        return line
