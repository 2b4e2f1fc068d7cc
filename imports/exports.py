"""Exports for staff and auditors: contacts with their consent, and the ledger for a period.

Rows are read in chunks and written as they come (CSV lines, or openpyxl's
write-only sheets for XLSX), so a million rows never sit in memory. Every text
cell that a spreadsheet would run as a formula is escaped (imports.spreadsheets),
in XLSX after the writer's own changes to the text, and no XLSX cell is ever a
formula. A contact's attributes are one JSON column, whatever keys contacts have:
the columns stay the same few, where one per key made 100,000 columns.

Two styles: "words" (the default, for people: headings, states, sources and
languages named, dates in the local time zone, real dates in a workbook) and
"codes" (for machines: the values as stored, ISO dates). An export in codes reads
back with `import_contacts`: its ids, consent states and attributes are ignored by
the import (attributes are imported from attr:<key> columns), and the rest adds
nothing.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import IO, Any

from django.conf.locale import LANG_INFO
from django.db.models import QuerySet
from django.utils import timezone

from consent.models import ConsentEvent, ConsentState
from consent.rules import Action, Purpose, Source, Status
from contacts.models import Contact

from .spreadsheets import escape_formula, is_formula_like

CHUNK = 2000
WORDS, CODES = "words", "codes"
STATE_FIELDS = ("state", "state_since", "state_source", "state_expires_at")
CONTACT_HEADER = (
    "id",
    "phone",
    "wa_id",
    "whatsapp_user_id",
    "name",
    "language",
    "external_id",
    "tags",
    "attributes",
)
CONTACT_WORDS = (
    "Contact id",
    "Phone",
    "WhatsApp id",
    "WhatsApp user id",
    "Name",
    "Language",
    "External id",
    "Tags",
    "Attributes",
)
STATE_WORDS = ("consent", "consent since", "consent source", "consent expires")
# A spreadsheet cell holds at most this many characters (Excel's limit).
XLSX_CELL_CHARS = 32_767
CUT = "… [cut: longer than a spreadsheet cell holds; the CSV export has it whole]"
LEDGER_HEADER = (
    "event_id",
    "contact_id",
    "phone",
    "seq",
    "occurred_at",
    "recorded_at",
    "purpose",
    "action",
    "source",
    "notice",
    "applied",
    "status_after",
    "expires_at",
    "paused_until",
    "wamid",
    "prompted_by_wamid",
    "note",
    "actor",
    "prev_hash",
    "hash",
)
LEDGER_WORDS = (
    "Event id",
    "Contact id",
    "Phone",
    "Number in the contact's chain",
    "Occurred",
    "Recorded",
    "Purpose",
    "Action",
    "Source",
    "Notice",
    "Applied",
    "Consent after",
    "Expires",
    "Paused until",
    "WhatsApp message",
    "Prompted by WhatsApp message",
    "Note",
    "Staff user id",
    "Previous hash",
    "Hash",
)
_LABELS: dict[str, dict[str, str]] = {
    "status": {str(k): str(v) for k, v in Status.choices},
    "source": {str(k): str(v) for k, v in Source.choices},
    "purpose": {str(k): str(v) for k, v in Purpose.choices},
    "action": {str(k): str(v) for k, v in Action.choices},
}


def export_only_columns() -> frozenset[str]:
    """Columns of the contact export (in codes) that an import of it ignores."""
    return frozenset(
        {
            "id",
            "created_at",
            "attributes",
            *(f"{p}_{f}" for p in Purpose.values for f in STATE_FIELDS),
        }
    )


def language_name(code: str) -> str:
    """ "es" -> "Spanish"; a code Django does not know stays as it is."""
    info = LANG_INFO.get(code) or LANG_INFO.get(code.replace("_", "-").split("-")[0])
    return info["name"] if info and "name" in info else code


class Cells:
    """Values as one export style writes them.

    Dates in words are local `datetime`s without a zone (a workbook holds no zones;
    the writers make real date cells of them, or text in CSV) in the time zone the
    headings name; in codes, ISO 8601 text as stored.
    """

    def __init__(self, style: str = CODES) -> None:
        self.words = style == WORDS
        self.zone = timezone.get_default_timezone()

    def text(self, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, bool | int | float):
            return value
        return escape_formula(str(value))

    def moment(self, value: datetime | None) -> Any:
        if value is None:
            return ""
        if not self.words:
            return value.isoformat()
        return timezone.localtime(value, self.zone).replace(tzinfo=None, microsecond=0)

    def label(self, kind: str, value: str | None) -> str:
        if not value:
            return ""
        return _LABELS[kind].get(value, value) if self.words else value

    def yes_no(self, value: bool) -> Any:
        return ("yes" if value else "no") if self.words else value

    def language(self, code: str) -> str:
        return language_name(code) if self.words and code else code

    def zone_note(self) -> str:
        return f" ({self.zone.key if hasattr(self.zone, 'key') else self.zone})"


def _cell(value: Any) -> Any:
    return Cells().moment(value) if isinstance(value, datetime) else Cells().text(value)


def contact_header(style: str = CODES) -> list[str]:
    if style != WORDS:
        return [
            *CONTACT_HEADER,
            *(f"{p}_{f}" for p in Purpose.values for f in STATE_FIELDS),
            "created_at",
        ]
    cells = Cells(style)
    zone = cells.zone_note()
    states = []
    for label in Purpose.labels:
        for field, words in zip(STATE_FIELDS, STATE_WORDS, strict=True):
            dated = zone if field in ("state_since", "state_expires_at") else ""
            states.append(f"{label} {words}{dated}")
    return [*CONTACT_WORDS, *states, f"Created{zone}"]


_CONTACT_VALUES = (
    "id",
    "phone",
    "wa_id",
    "whatsapp_user_id",
    "name",
    "language",
    "external_id",
    "attributes",
    "created_at",
)
# A state as its four columns: status, since, source, expires.
_State = tuple[str, Any, str, Any]


def contact_rows(
    selected: QuerySet[Contact] | None = None, *, style: str = CODES, in_list_order: bool = False
) -> Iterator[list[Any]]:
    """The header, then one row per contact (erased ones included, without personal data);
    every contact, or the `selected` ones (`in_list_order`: the admin list's queryset, read
    in its own order). Read in chunks through a server-side cursor, each chunk's tags and
    states in one query each (no model instances)."""
    cells = Cells(style)
    yield contact_header(style)
    chosen = Contact.objects.order_by("pk")
    if selected is not None and in_list_order:
        # The list's joins, search and ordering (a pk tiebreak, by the admin), one
        # statement; what it prefetches for its own rows is not needed here.
        chosen = selected.prefetch_related(None)
    elif selected is not None:
        chosen = chosen.filter(pk__in=selected.values("pk"))
    values = chosen.values_list(*_CONTACT_VALUES).iterator(chunk_size=CHUNK)
    while batch := list(islice(values, CHUNK)):
        tags, states = _tags_and_states([row[0] for row in batch])
        for contact in batch:
            yield _contact_row(cells, contact, tags.get(contact[0], []), states)


def _tags_and_states(ids: list[Any]) -> tuple[dict[Any, list[str]], dict[tuple, _State]]:
    tags: dict[Any, list[str]] = defaultdict(list)
    through = Contact.tags.through.objects.filter(contact_id__in=ids)
    for contact_id, name in through.values_list("contact_id", "tag__name"):
        tags[contact_id].append(name)
    states = {
        (contact_id, purpose): (status, since, source, expires_at)
        for contact_id, purpose, status, since, source, expires_at in ConsentState.objects.filter(
            contact_id__in=ids
        ).values_list("contact_id", "purpose", "status", "since", "source", "expires_at")
    }
    return tags, states


def _contact_row(
    cells: Cells, contact: tuple, tags: list[str], states: dict[tuple, _State]
) -> list[Any]:
    pk, phone, wa_id, user_id, name, language, external_id, attributes, created_at = contact
    row: list[Any] = [
        str(pk),
        # A validated E.164 phone: its '+' is no formula.
        str(phone) if phone else "",
        *(
            cells.text(v)
            for v in (
                wa_id,
                user_id,
                name,
                cells.language(language),
                external_id,
                ";".join(sorted(tags)),
                _attributes(attributes),
            )
        ),
    ]
    for purpose in Purpose.values:
        state = states.get((pk, purpose))
        if state is None:
            row += [cells.label("status", Status.NONE), "", "", ""]
            continue
        status, since, source, expires_at = state
        row += [
            cells.text(cells.label("status", status)),
            cells.moment(since),
            cells.text(cells.label("source", source)),
            cells.moment(expires_at),
        ]
    row.append(cells.moment(created_at))
    return row


def _attributes(attributes: dict[str, Any] | None) -> str:
    if not attributes:
        return ""
    return json.dumps(attributes, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def ledger_events(start: datetime, end: datetime) -> QuerySet[ConsentEvent]:
    return ConsentEvent.objects.filter(occurred_at__gte=start, occurred_at__lt=end)


def ledger_rows(start: datetime, end: datetime, *, style: str = CODES) -> Iterator[list[Any]]:
    """The header, then every event that occurred in [start, end), oldest first."""
    cells = Cells(style)
    if style == WORDS:
        zone = cells.zone_note()
        yield [
            f"{h}{zone}" if h in ("Occurred", "Recorded", "Expires", "Paused until") else h
            for h in LEDGER_WORDS
        ]
    else:
        yield list(LEDGER_HEADER)
    events = (
        ledger_events(start, end)
        .select_related("contact", "notice", "personal_evidence")
        .order_by("occurred_at", "contact_id", "seq")
        .iterator(chunk_size=CHUNK)
    )
    for e in events:
        yield [
            str(e.pk),
            str(e.contact_id),
            str(e.contact.phone) if e.contact.phone else "",
            e.seq,
            cells.moment(e.occurred_at),
            cells.moment(e.recorded_at),
            cells.label("purpose", e.purpose),
            cells.label("action", e.action),
            cells.label("source", e.source),
            e.notice.ref if e.notice else "",
            cells.yes_no(e.applied),
            cells.label("status", e.status_after),
            cells.moment(e.expires_at),
            cells.moment(e.paused_until),
            cells.text(e.wamid),
            cells.text(e.prompted_by_wamid),
            cells.text(e.note),
            e.actor_id or "",
            e.prev_hash or "",
            e.hash,
        ]


def csv_lines(rows: Iterable[list[Any]]) -> Iterator[str]:
    """CSV text, a chunk of lines at a time (for a streamed response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for count, row in enumerate(rows, start=1):
        writer.writerow([f"{v:%Y-%m-%d %H:%M:%S}" if isinstance(v, datetime) else v for v in row])
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_xlsx(rows: Iterable[list[Any]], out: IO[bytes] | str, title: str) -> None:
    """An XLSX workbook written row by row (openpyxl's write-only mode)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, datetime):
                # A real date cell, shown as a date and time (a workbook holds no zones).
                date_cell = WriteOnlyCell(sheet, value=value)
                date_cell.number_format = "yyyy-mm-dd hh:mm:ss"
                cells.append(date_cell)
                continue
            if not isinstance(value, str):
                cells.append(value)
                continue
            cell = WriteOnlyCell(sheet, value=xlsx_text(value))
            # A text cell, always: openpyxl would write text starting with = as a formula.
            cell.data_type = "s"
            cells.append(cell)
        sheet.append(cells)
    workbook.save(out)


def xlsx_text(value: str) -> str:
    """Text as a workbook will hold it: escaped after the writer's own changes."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    # Control characters cannot be stored in a workbook at all; dropping them can
    # uncover a formula ("\x01=HYPERLINK(…)"), so the escape comes after.
    text = ILLEGAL_CHARACTERS_RE.sub("", value)
    if text != value and not text.startswith("'") and is_formula_like(text):
        text = "'" + text
    if len(text) > XLSX_CELL_CHARS:
        text = text[: XLSX_CELL_CHARS - len(CUT)] + CUT
    return text


def write_csv(rows: Iterable[list[Any]], out: IO[str]) -> None:
    for chunk in csv_lines(rows):
        out.write(chunk)
