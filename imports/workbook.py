"""The rows of an XLSX workbook's first sheet, streamed within the file limits.

A workbook is a zip of XML parts, and a small zip can expand enormously (a 2 MB
file held a worker for 10 minutes at 3.4 GB through openpyxl, whose reader also
pads every row to the sheet's declared width and keeps each cell's text whole).
So the parts are read here with expat, as they unzip:

- before anything is opened, the sizes the zip's central directory declares must
  stay within the ratio and the absolute limit (a bomb is refused unread);
- while reading, a meter counts what each part really expands to, since those
  declarations can lie;
- a cell's text is kept only up to the cell limit, cells only up to the column
  limit, and a row is handed on as soon as it ends.

Cell values follow openpyxl's `data_only` reading: a formula gives its cached
value, numbers styled as dates become datetimes, shared and inline strings text.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import zipfile
import zlib
from array import array
from collections.abc import Callable, Iterator
from typing import IO, Any
from xml.parsers import expat

from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH, from_excel, from_ISO8601

from .limits import FileLimits, FileRefused, UnreadableFile

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
OFFICE_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
CHUNK = 64 * 1024
_REFERENCE = re.compile(r"^([A-Za-z]{1,3})(\d+)$")
_SEP = "\x01"  # expat's namespace separator: "{ns}\x01{tag}"


def _tag(namespace: str, name: str) -> str:
    return f"{namespace}{_SEP}{name}"


def damaged(reason: str) -> UnreadableFile:
    return UnreadableFile(f"the workbook cannot be read: {reason}")


class _Meter:
    """Counts the bytes a workbook's parts really expand to, and stops at the limits.

    CPython's zipfile already stops a part at the size the central directory declares
    (checked first, below); counting here keeps the bound whatever the zip reader does.
    """

    def __init__(self, limits: FileLimits, file_bytes: int) -> None:
        self.limits = limits
        self.allowed = limits.expansion_allowed(file_bytes)
        self.file_bytes = file_bytes
        self.total = 0

    def open(self, archive: zipfile.ZipFile, name: str) -> _MeteredPart:
        try:
            info = archive.getinfo(name)
            stream = archive.open(info)
        except KeyError:
            raise damaged(f"it has no part {name}") from None
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
            # Damaged, encrypted, or compressed in a way zipfile cannot read.
            raise damaged(str(exc)) from None
        return _MeteredPart(self, stream, info)

    def count(self, part: _MeteredPart, size: int) -> None:
        self.total += size
        limits = self.limits
        if self.total > limits.xlsx_expanded_bytes:
            raise FileRefused(limits.workbook_expands_too_far())
        if self.total > self.allowed:
            raise FileRefused(limits.workbook_ratio_too_high(self.total / max(self.file_bytes, 1)))
        if part.read_bytes > part.allowed:
            ratio = part.read_bytes / max(part.info.compress_size, 1)
            raise FileRefused(limits.workbook_ratio_too_high(ratio, part=True))


class _MeteredPart:
    def __init__(self, meter: _Meter, stream: IO[bytes], info: zipfile.ZipInfo) -> None:
        self.meter = meter
        self.stream = stream
        self.info = info
        self.read_bytes = 0
        self.allowed = meter.limits.expansion_allowed(info.compress_size)

    def read(self, size: int = CHUNK) -> bytes:
        try:
            data = self.stream.read(size)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
            raise damaged(str(exc)) from None
        self.read_bytes += len(data)
        self.meter.count(self, len(data))
        return data

    @property
    def fraction(self) -> float:
        return min(self.read_bytes / self.info.file_size, 1.0) if self.info.file_size else 0.0

    def close(self) -> None:
        self.stream.close()


def check_declared_sizes(archive: zipfile.ZipFile, file_bytes: int, limits: FileLimits) -> None:
    """Refuse a bomb from the zip's central directory alone, before any part is unzipped.

    The ratio that counts is against the file's real size: a part may claim more
    compressed bytes than it has, never more than the file holds.
    """
    parts = archive.infolist()
    expanded = sum(info.file_size for info in parts)
    if expanded > limits.xlsx_expanded_bytes:
        raise FileRefused(limits.workbook_expands_too_far())
    if expanded > limits.expansion_allowed(file_bytes):
        raise FileRefused(limits.workbook_ratio_too_high(expanded / max(file_bytes, 1)))
    if sum(info.compress_size for info in parts) > file_bytes:
        raise damaged("its parts claim more bytes than the file has")
    for info in parts:
        if info.file_size > limits.expansion_allowed(info.compress_size):
            ratio = info.file_size / max(info.compress_size, 1)
            raise FileRefused(limits.workbook_ratio_too_high(ratio, part=True))


def _parse(
    part: _MeteredPart,
    start: Callable[[str, dict[str, str]], None] | None = None,
    end: Callable[[str], None] | None = None,
    text: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Feed one part through expat a chunk at a time, yielding after each chunk."""
    parser = expat.ParserCreate(namespace_separator=_SEP)

    def refuse_dtd(*args: Any) -> None:
        # No part of a workbook has a DTD; one here could only declare entities.
        raise damaged("it declares a DTD")

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    if start:
        parser.StartElementHandler = start
    if end:
        parser.EndElementHandler = end
    if text:
        parser.CharacterDataHandler = text
    try:
        while chunk := part.read(CHUNK):
            parser.Parse(chunk, False)
            yield
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise damaged(f"{part.info.filename} is not well-formed XML ({exc})") from None
    except (LookupError, UnicodeError) as exc:
        # An encoding the XML declaration names that Python does not know, or lies about.
        raise damaged(f"{part.info.filename}: {exc}") from None
    finally:
        part.close()
    yield


def _consume(parsing: Iterator[None]) -> None:
    for _ in parsing:
        pass


class SharedStrings:
    """A workbook's table of strings, held compact: one UTF-8 buffer and where each ends.

    As Python strings in a list, short strings take ~70 bytes each (3 million: 207 MB,
    measured); here their text and 8 bytes each (46 MB).
    """

    def __init__(self) -> None:
        self.text = bytearray()
        self.ends = array("Q")

    def append(self, value: str) -> None:
        self.text += value.encode("utf-8", "surrogatepass")
        self.ends.append(len(self.text))

    def get(self, index: int) -> str:
        if index < 0:
            raise IndexError(index)
        end = self.ends[index]
        start = self.ends[index - 1] if index else 0
        return self.text[start:end].decode("utf-8", "surrogatepass")

    def __len__(self) -> int:
        return len(self.ends)


class Workbook:
    """The first sheet of an XLSX file, row by row: (row number, cell values)."""

    def __init__(self, handle: IO[bytes], file_bytes: int, limits: FileLimits) -> None:
        self.limits = limits
        try:
            self.archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, NotImplementedError, OSError, ValueError) as exc:
            raise damaged(str(exc)) from None
        try:
            self._read_parts(file_bytes, limits)
        except BaseException:
            self.archive.close()
            raise

    def _read_parts(self, file_bytes: int, limits: FileLimits) -> None:
        check_declared_sizes(self.archive, file_bytes, limits)
        self.meter = _Meter(limits, file_bytes)
        self.sheet: _MeteredPart | None = None
        workbook_path = self._office_document()
        self.epoch, sheet_ids = self._workbook(workbook_path)
        targets = self._relationships(workbook_path)
        worksheets = targets.get("worksheet", {})
        # The first sheet that is a worksheet (a chart sheet has no rows).
        first = next((worksheets[i] for i in sheet_ids if i in worksheets), None)
        if first is None:
            raise damaged("it has no worksheet")
        self.sheet_path = first
        strings = next(iter(targets.get("sharedStrings", {}).values()), None)
        styles = next(iter(targets.get("styles", {}).values()), None)
        self.shared_strings = self._shared_strings(strings) if strings else SharedStrings()
        self.date_styles, self.timedelta_styles = self._styles(styles) if styles else (set(), set())

    def close(self) -> None:
        self.archive.close()

    @property
    def fraction_read(self) -> float:
        return self.sheet.fraction if self.sheet else 0.0

    # --- the parts that say where everything is ------------------------------------------

    def _office_document(self) -> str:
        found = self._relationship_targets("_rels/.rels", base="")
        documents = found.get("officeDocument", {})
        return next(iter(documents.values()), "xl/workbook.xml")

    def _relationships(self, part: str) -> dict[str, dict[str, str]]:
        folder, name = posixpath.split(part)
        return self._relationship_targets(posixpath.join(folder, "_rels", f"{name}.rels"), folder)

    def _relationship_targets(self, rels: str, base: str) -> dict[str, dict[str, str]]:
        """{type's last word: {relationship id: part path}}."""
        found: dict[str, dict[str, str]] = {}
        if rels not in self.archive.namelist():
            return found

        def start(tag: str, attrs: dict[str, str]) -> None:
            if not tag.endswith(f"{_SEP}Relationship") or attrs.get("TargetMode") == "External":
                return
            target = attrs.get("Target", "")
            path = target[1:] if target.startswith("/") else posixpath.join(base, target)
            kind = attrs.get("Type", "").rsplit("/", 1)[-1]
            found.setdefault(kind, {})[attrs.get("Id", "")] = posixpath.normpath(path)

        _consume(_parse(self.meter.open(self.archive, rels), start=start))
        return found

    def _workbook(self, path: str) -> tuple[Any, list[str]]:
        """The date system, and the relationship ids of the sheets in their order."""
        state: dict[str, Any] = {"epoch": WINDOWS_EPOCH}
        sheets: list[str] = []

        def start(tag: str, attrs: dict[str, str]) -> None:
            if tag == _tag(MAIN, "workbookPr") and attrs.get("date1904") in ("1", "true"):
                state["epoch"] = MAC_EPOCH
            elif tag == _tag(MAIN, "sheet"):
                sheets.append(attrs.get(_tag(OFFICE_RELS, "id"), ""))

        _consume(_parse(self.meter.open(self.archive, path), start=start))
        return state["epoch"], sheets

    def _shared_strings(self, path: str) -> SharedStrings:
        """Each string kept to one character past the cell limit: enough to refuse it."""
        keep = self.limits.cell_chars + 1
        strings = SharedStrings()
        current: list[str] = []
        state = {"length": 0, "collect": False, "phonetic": 0}

        def start(tag: str, attrs: dict[str, str]) -> None:
            if tag == _tag(MAIN, "si"):
                current.clear()
                state["length"] = 0
            elif tag == _tag(MAIN, "rPh"):
                state["phonetic"] += 1
            elif tag == _tag(MAIN, "t") and not state["phonetic"]:
                state["collect"] = True

        def end(tag: str) -> None:
            if tag == _tag(MAIN, "si"):
                strings.append("".join(current))
            elif tag == _tag(MAIN, "rPh"):
                state["phonetic"] -= 1
            elif tag == _tag(MAIN, "t"):
                state["collect"] = False

        def text(data: str) -> None:
            if state["collect"] and state["length"] < keep:
                current.append(data[: keep - state["length"]])
                state["length"] += len(current[-1])

        _consume(_parse(self.meter.open(self.archive, path), start, end, text))
        return strings

    def _styles(self, path: str) -> tuple[set[int], set[int]]:
        """The cell styles (their index) that show a number as a date or a duration."""
        formats: dict[int, str] = {}
        cell_formats: list[int] = []
        state = {"cell_xfs": False}

        def start(tag: str, attrs: dict[str, str]) -> None:
            if tag == _tag(MAIN, "numFmt"):
                with contextlib.suppress(ValueError):
                    formats[int(attrs.get("numFmtId", ""))] = attrs.get("formatCode", "")
            elif tag == _tag(MAIN, "cellXfs"):
                state["cell_xfs"] = True
            elif tag == _tag(MAIN, "xf") and state["cell_xfs"]:
                try:
                    cell_formats.append(int(attrs.get("numFmtId", "0")))
                except ValueError:
                    cell_formats.append(0)

        def end(tag: str) -> None:
            if tag == _tag(MAIN, "cellXfs"):
                state["cell_xfs"] = False

        _consume(_parse(self.meter.open(self.archive, path), start, end))
        dates, durations = set(), set()
        for index, format_id in enumerate(cell_formats):
            code = formats.get(format_id) or BUILTIN_FORMATS.get(format_id) or ""
            if is_date_format(code):
                dates.add(index)
                if is_timedelta_format(code):
                    durations.add(index)
        return dates, durations

    # --- the sheet ------------------------------------------------------------------------

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        sheet = _SheetRows(self._value, self.limits)
        self.sheet = self.meter.open(self.archive, self.sheet_path)
        for _ in _parse(self.sheet, sheet.start, sheet.end, sheet.collect):
            yield from sheet.ready
            sheet.ready.clear()

    def _value(self, kind: str, style: int, text: str) -> Any:
        if kind in ("inlineStr", "str", "e"):
            return text
        if not text:
            return None
        if kind == "s":
            try:
                return self.shared_strings.get(int(text))
            except (ValueError, IndexError):
                raise damaged(f"a cell names a shared string ({text[:20]!r}) not there") from None
        if kind == "b":
            return text.strip() in ("1", "true")
        if kind == "d":
            try:
                return from_ISO8601(text)
            except ValueError:
                return text
        try:
            number: int | float = float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:
            raise damaged(f"{text[:20]!r} is not a number") from None
        if style in self.date_styles:
            try:
                return from_excel(number, self.epoch, timedelta=style in self.timedelta_styles)
            except (OverflowError, ValueError):
                return number
        return number


_CELL, _VALUE, _INLINE, _PHONETIC = (
    _tag(MAIN, "c"),
    _tag(MAIN, "v"),
    _tag(MAIN, "is"),
    _tag(MAIN, "rPh"),
)
_TEXT, _ROW = _tag(MAIN, "t"), _tag(MAIN, "row")


class _SheetRows:
    """A worksheet's parser callbacks: cells gathered into rows (in `ready`), limits kept.

    `value_of(type, style, text)` reads a cell's text as its value.
    """

    def __init__(self, value_of: Callable[[str, int, str], Any], limits: FileLimits) -> None:
        self.value_of = value_of
        self.limits = limits
        self.ready: list[tuple[int, list[Any]]] = []
        self.text: list[str] = []
        self.cells: dict[int, Any] = {}
        self.row = self.column = self.widest = 0
        self.type, self.style, self.length = "n", 0, 0
        self.collecting, self.inline, self.phonetic = False, False, 0

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if tag == _CELL:
            self.column = _column(attrs.get("r")) or self.column + 1
            self.type = attrs.get("t", "n")
            try:
                self.style = int(attrs.get("s", "0"))
            except ValueError:
                self.style = 0
            self.length = 0
            self.text.clear()
        elif tag == _VALUE:
            self.collecting = self.type != "inlineStr"
        elif tag == _INLINE:
            self.inline = True
        elif tag == _PHONETIC:
            self.phonetic += 1
        elif tag == _TEXT:
            self.collecting = self.inline and not self.phonetic
        elif tag == _ROW:
            self.row = _number(attrs.get("r")) or self.row + 1
            self.column = self.widest = 0
            self.cells.clear()

    def end(self, tag: str) -> None:
        if tag in (_VALUE, _TEXT):
            self.collecting = False
        elif tag == _INLINE:
            self.inline = False
        elif tag == _PHONETIC:
            self.phonetic -= 1
        elif tag == _CELL:
            self._end_cell()
        elif tag == _ROW:
            self._end_row()

    def collect(self, data: str) -> None:
        if self.collecting:
            self.length += len(data)
            if self.length > self.limits.cell_chars:
                raise FileRefused(self.limits.cell_too_long(self.row, self.column))
            self.text.append(data)

    def _end_cell(self) -> None:
        value = self.value_of(self.type, self.style, "".join(self.text))
        if value is None or value == "":
            return
        if isinstance(value, str) and len(value) > self.limits.cell_chars:
            raise FileRefused(self.limits.cell_too_long(self.row, self.column))
        self.widest = max(self.widest, self.column)
        if self.column <= self.limits.columns:
            self.cells[self.column] = value

    def _end_row(self) -> None:
        if self.widest > self.limits.columns:
            raise FileRefused(self.limits.too_many_columns(self.row, self.widest))
        values: list[Any] = [None] * self.widest
        for column, value in self.cells.items():
            values[column - 1] = value
        self.ready.append((self.row, values))


def _number(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _column(reference: str | None) -> int | None:
    """ "C12" → 3; a missing or odd reference → None (the cell follows the one before)."""
    found = _REFERENCE.match(reference or "")
    if not found:
        return None
    column = 0
    for letter in found.group(1).upper():
        column = column * 26 + ord(letter) - ord("A") + 1
    return column
