"""Exports for staff and auditors: contacts with their consent, and the ledger for a period.

Rows are read in chunks and written as they come (CSV lines, or openpyxl's
write-only sheets for XLSX), so a million rows never sit in memory. Every text
cell that a spreadsheet would run as a formula is escaped (contacts.spreadsheets),
in XLSX after the writer's own changes to the text, and no XLSX cell is ever a
formula. A contact's attributes are one JSON column, whatever keys contacts have:
the columns stay the same few, where one per key made 100,000 columns. The contact
export reads back with `import_contacts`: its ids, consent states and attributes are
ignored by the import (attributes are imported from attr:<key> columns), and the
rest adds nothing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO, Any

from django.db.models import QuerySet

from contacts.models import Contact
from contacts.spreadsheets import escape_formula, is_formula_like

from .models import ConsentEvent
from .rules import Purpose

CHUNK = 2000
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


def export_only_columns() -> frozenset[str]:
    """Columns of the contact export that an import of it ignores."""
    return frozenset(
        {
            "id",
            "created_at",
            "attributes",
            *(f"{p}_{f}" for p in Purpose.values for f in STATE_FIELDS),
        }
    )


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool | int | float):
        return value
    return escape_formula(str(value))


def contact_rows(selected: QuerySet[Contact] | None = None) -> Iterator[list[Any]]:
    """The header, then one row per contact (erased ones included, without personal data);
    every contact, or the `selected` ones."""
    yield [
        *CONTACT_HEADER,
        *(f"{p}_{f}" for p in Purpose.values for f in STATE_FIELDS),
        "created_at",
    ]
    chosen = Contact.objects.all()
    if selected is not None:
        # Only which contacts: the admin's queryset carries its own joins and ordering.
        chosen = chosen.filter(pk__in=selected.values("pk"))
    contacts = (
        chosen.order_by("pk").prefetch_related("tags", "consent_states").iterator(chunk_size=CHUNK)
    )
    for contact in contacts:
        states = {s.purpose: s for s in contact.consent_states.all()}
        row: list[Any] = [
            str(contact.pk),
            # A validated E.164 phone: its '+' is no formula.
            str(contact.phone) if contact.phone else "",
            *(
                _cell(v)
                for v in (
                    contact.wa_id,
                    contact.whatsapp_user_id,
                    contact.name,
                    contact.language,
                    contact.external_id,
                    ";".join(sorted(t.name for t in contact.tags.all())),
                    _attributes(contact.attributes),
                )
            ),
        ]
        for purpose in Purpose.values:
            state = states.get(purpose)
            row += (
                [
                    _cell(state.status),
                    _cell(state.since),
                    _cell(state.source),
                    _cell(state.expires_at),
                ]
                if state
                else ["none", "", "", ""]
            )
        row.append(_cell(contact.created_at))
        yield row


def _attributes(attributes: dict[str, Any] | None) -> str:
    if not attributes:
        return ""
    return json.dumps(attributes, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def ledger_rows(start: datetime, end: datetime) -> Iterator[list[Any]]:
    """The header, then every event that occurred in [start, end), oldest first."""
    yield list(LEDGER_HEADER)
    events = (
        ConsentEvent.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
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
            _cell(e.occurred_at),
            _cell(e.recorded_at),
            e.purpose,
            e.action,
            e.source,
            e.notice.ref if e.notice else "",
            e.applied,
            e.status_after,
            _cell(e.expires_at),
            _cell(e.paused_until),
            _cell(e.wamid),
            _cell(e.prompted_by_wamid),
            _cell(e.note),
            e.actor_id or "",
            e.prev_hash or "",
            e.hash,
        ]


def csv_lines(rows: Iterable[list[Any]]) -> Iterator[str]:
    """CSV text, a chunk of lines at a time (for a streamed response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for count, row in enumerate(rows, start=1):
        writer.writerow(row)
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
