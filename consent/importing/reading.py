"""Streaming the rows of a CSV or XLSX file, never the whole file in memory."""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

XLSX_MAGIC = b"PK\x03\x04"


class UnreadableFile(Exception):
    pass


class ContactFile:
    """The rows of an uploaded or local file, numbered as a spreadsheet shows them."""

    def __init__(self, path: str | os.PathLike, name: str | None = None) -> None:
        self.path = Path(path)
        self.name = name or self.path.name
        with open(self.path, "rb") as handle:
            self.is_xlsx = handle.read(4) == XLSX_MAGIC
        if self.name.lower().endswith((".xlsx", ".xlsm")) and not self.is_xlsx:
            raise UnreadableFile("this is not an XLSX workbook")
        self.size = self.path.stat().st_size
        self._done = 0.0

    @property
    def fraction_read(self) -> float:
        return self._done

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """(row number, cells), the header being row 1."""
        return self._xlsx_rows() if self.is_xlsx else self._csv_rows()

    def _csv_rows(self) -> Iterator[tuple[int, list[Any]]]:
        with open(self.path, "rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            try:
                sample = text.read(64 * 1024)
            except UnicodeDecodeError:
                raise UnreadableFile("the file is not UTF-8 text (save it as CSV UTF-8)") from None
            text.seek(0)
            dialect: Any = csv.excel
            with contextlib.suppress(csv.Error):
                dialect = csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=",;\t")
            reader = csv.reader(text, dialect)
            try:
                for number, cells in enumerate(reader, start=1):
                    if number % 1000 == 0 and self.size:
                        self._done = min(raw.tell() / self.size, 1.0)
                    yield number, cells
            except UnicodeDecodeError:
                raise UnreadableFile("the file is not UTF-8 text (save it as CSV UTF-8)") from None
            except csv.Error as exc:
                raise UnreadableFile(f"the CSV cannot be read: {exc}") from None
        self._done = 1.0

    def _xlsx_rows(self) -> Iterator[tuple[int, list[Any]]]:
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises a variety for damaged files
            raise UnreadableFile(f"the workbook cannot be read: {exc}") from None
        try:
            sheet = workbook.worksheets[0]
            total = sheet.max_row or 0
            for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
                if number % 1000 == 0 and total:
                    self._done = min(number / total, 1.0)
                yield number, list(cells)
        finally:
            workbook.close()
        self._done = 1.0


def save_upload(upload: IO[bytes], destination: Path) -> None:
    with open(destination, "wb") as out:
        for chunk in iter(lambda: upload.read(1024 * 1024), b""):
            out.write(chunk)
