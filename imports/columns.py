"""The column spec of a contact file, and turning one row into checked values.

Headers (case-insensitive): phone, wa_id, whatsapp_user_id, name, language,
external_id, tags (separated by ';'), attr:<key>, and per purpose
<purpose>_status (legacy, opted_out or empty), <purpose>_date, <purpose>_source,
<purpose>_notice, <purpose>_evidence. Nobody is opted in by an import: consent
from an old system is `legacy` (it lapses at the re-consent deadline) and an
old unsubscribe is an opt-out.
"""

from __future__ import annotations

import re
import secrets
import uuid
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.utils import timezone

from consent.rules import MESSAGE_PURPOSES, Action
from contacts.phones import InvalidPhone, normalize_phone, phone_hash, wa_id_for, why_not_a_phone
from core.inputs import has_lone_surrogate

from .exports import export_only_columns
from .report import RowProblem
from .spreadsheets import is_formula_like

IDENTIFIERS = ("phone", "wa_id", "whatsapp_user_id")
CONTACT_COLUMNS = (*IDENTIFIERS, "name", "language", "external_id", "tags")
CONSENT_FIELDS = ("status", "date", "source", "notice", "evidence")
ATTRIBUTE_PREFIX = "attr:"
STATUS_ACTIONS = {"legacy": Action.LEGACY, "opted_out": Action.WITHDRAW}
TAG_SEPARATOR = ";"
UNSTORABLE = "contains a character that cannot be stored (a NUL or a lone surrogate)"

_LANGUAGE = re.compile(r"^[a-z]{2,3}([-_][a-z0-9]{2,8})*$")
TAG_PATTERN = re.compile(r"^[-a-zA-Z0-9_]+$")
_NOTICE_REF = re.compile(r"^(?P<purpose>[a-z_]+)/(?P<language>[A-Za-z_-]+)/(?P<version>\d+)$")
LIMITS = {
    "name": 200,
    "external_id": 128,
    "whatsapp_user_id": 128,
    "wa_id": 32,
    "tag": 64,
    "source": 200,
    "notice": 2000,
    "evidence": 2000,
    "attribute": 1000,
}


# A call permission is granted only in WhatsApp's own dialog: no import column for it.
IMPORTED_PURPOSES = tuple(p.value for p in MESSAGE_PURPOSES)


def consent_columns(purpose: str) -> tuple[str, ...]:
    return tuple(f"{purpose}_{name}" for name in CONSENT_FIELDS)


KNOWN_COLUMNS = frozenset(
    [*CONTACT_COLUMNS, *(c for p in IMPORTED_PURPOSES for c in consent_columns(p))]
)


@dataclass(frozen=True)
class Header:
    """Which position holds which column; attribute columns keep their key's spelling."""

    positions: dict[str, int]
    attributes: dict[str, int]


def read_header(cells: list[Any]) -> tuple[Header | None, list[RowProblem]]:
    problems: list[RowProblem] = []
    positions: dict[str, int] = {}
    attributes: dict[str, int] = {}
    for index, cell in enumerate(cells):
        raw = shown(_text(cell))
        name = raw.lower()
        if not name:
            continue
        if name.startswith(ATTRIBUTE_PREFIX):
            key = raw[len(ATTRIBUTE_PREFIX) :].strip()
            if not key:
                problems.append(RowProblem(1, raw, "an attribute column needs a key: attr:<key>"))
            elif key in attributes:
                problems.append(RowProblem(1, raw, "this column appears twice"))
            attributes[key] = index
        elif name in export_only_columns():
            # Read-only columns of our own export (ids, states): an export reads back.
            continue
        elif name not in KNOWN_COLUMNS:
            problems.append(
                RowProblem(1, raw, "unknown column (see the column list in the import help)")
            )
        elif name in positions:
            problems.append(RowProblem(1, raw, "this column appears twice"))
        else:
            positions[name] = index
    if not any(column in positions for column in IDENTIFIERS):
        problems.append(
            RowProblem(1, "", "the file needs a phone, wa_id or whatsapp_user_id column")
        )
    return (None if problems else Header(positions, attributes)), problems


@dataclass(frozen=True)
class ConsentLine:
    """What one row says about one purpose."""

    purpose: str
    action: str
    # As the file states it; None when the file gives no date (then: when imported).
    occurred_at: datetime | None
    notice_id: int | None = None
    # The old system's wording when it is not one of our notices, and where it came from.
    wording: str = ""
    origin: str = ""
    note: str = ""


@dataclass
class ContactLine:
    """One checked row: who, what we know of them, and what they said per purpose."""

    row: int
    phone: str | None = None
    # A phone spelled from the wa_id names the same person, but may differ from ours.
    phone_derived: bool = False
    phone_hash: str | None = None
    wa_id: str | None = None
    # A wa_id spelled from the phone is stored only where no other contact has it.
    wa_id_derived: bool = False
    # Set after matching: another contact already has the wa_id spelled from the phone.
    wa_id_taken: bool = False
    whatsapp_user_id: str | None = None
    external_id: str | None = None
    name: str = ""
    language: str = ""
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    consents: list[ConsentLine] = field(default_factory=list)
    # Used only when the row makes a new contact.
    new_id: uuid.UUID = field(default_factory=uuid.uuid4)
    link_secret: str = field(default_factory=lambda: secrets.token_urlsafe(16))


@dataclass(frozen=True)
class RowRules:
    """What checking a row needs from outside the row."""

    notices: dict[str, tuple[int, str, bool]]  # ref -> (id, purpose, published)
    # Why legacy consent cannot be imported now (no policy, deadline passed), if it cannot.
    legacy_problem: str | None
    now: datetime
    extra_tags: tuple[str, ...] = ()

    @property
    def latest_allowed(self) -> datetime:
        return self.now + timedelta(seconds=settings.CONSENT_MAX_FUTURE_SKEW_SECONDS)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        # A spreadsheet that read 447911123456 as a number.
        value = int(value)
    text = str(value).strip()
    if text[:1] == "'" and is_formula_like(text[1:]):
        # Our own exports escape formulas with a quote (imports.spreadsheets): read them back.
        return text[1:]
    return text


def shown(text: str) -> str:
    """Text safe to report back (a header may hold a NUL or a lone surrogate)."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def is_blank(cells: list[Any]) -> bool:
    return all(_text(cell) == "" for cell in cells)


@dataclass
class _Cells:
    """One row's cells, read by column name, and the problems found in them so far."""

    number: int
    cells: list[Any]
    header: Header
    problems: list[RowProblem] = field(default_factory=list)

    def cell(self, column: str) -> Any:
        index = self.header.positions.get(column)
        return self.cells[index] if index is not None and index < len(self.cells) else None

    def text(self, column: str) -> str:
        return _text(self.cell(column))

    def problem(self, column: str, message: str) -> None:
        self.problems.append(RowProblem(self.number, column, message))


def parse_row(
    number: int, cells: list[Any], header: Header, rules: RowRules
) -> tuple[ContactLine | None, list[RowProblem]]:
    """Check one row; returns the line, or the problems naming their columns."""
    row = _Cells(number, cells, header)
    if _refuse_unstorable_cells(row):
        return None, row.problems
    line = ContactLine(row=number)
    _read_identifiers(row, line)
    _read_details(row, line, rules)
    _read_attributes(row, line)
    for purpose in IMPORTED_PURPOSES:
        consent = _parse_consent(purpose, row.cell, row.text, rules, row.problem)
        if consent is not None:
            line.consents.append(consent)
    return (None if row.problems else line), row.problems


def _refuse_unstorable_cells(row: _Cells) -> bool:
    """Name each cell holding a NUL or a lone surrogate (nothing could store it); True if any."""
    joined = "".join(cell for cell in row.cells if isinstance(cell, str))
    if "\x00" not in joined and not has_lone_surrogate(joined):
        return False
    names = {i: c for c, i in row.header.positions.items()}
    names.update({i: f"{ATTRIBUTE_PREFIX}{k}" for k, i in row.header.attributes.items()})
    for index, cell in enumerate(row.cells):
        if isinstance(cell, str) and ("\x00" in cell or has_lone_surrogate(cell)):
            row.problem(names.get(index, f"column {index + 1}"), UNSTORABLE)
    return True


def _read_identifiers(row: _Cells, line: ContactLine) -> None:
    """The phone, wa_id and business-scoped user id: at least one, each well formed."""
    raw_phone, raw_wa_id, user_id = (
        row.text("phone"),
        row.text("wa_id"),
        row.text("whatsapp_user_id"),
    )
    if raw_phone:
        try:
            line.phone = normalize_phone(raw_phone)
        except InvalidPhone:
            reason = why_not_a_phone(raw_phone) or "not a valid phone"
            row.problem("phone", f"{raw_phone}: {reason}")
    if raw_wa_id:
        _read_wa_id(row, line, raw_wa_id, phone_given=bool(raw_phone))
    if user_id:
        if len(user_id) > LIMITS["whatsapp_user_id"] or any(c.isspace() for c in user_id):
            row.problem(
                "whatsapp_user_id", "a business-scoped user id: no spaces, 128 characters at most"
            )
        else:
            line.whatsapp_user_id = user_id
    if not (raw_phone or raw_wa_id or user_id):
        row.problem("phone", "a row needs a phone, wa_id or whatsapp_user_id")
    if line.phone:
        line.phone_hash = phone_hash(line.phone)
        if line.wa_id is None:
            line.wa_id, line.wa_id_derived = wa_id_for(line.phone), True


def _read_wa_id(row: _Cells, line: ContactLine, raw_wa_id: str, *, phone_given: bool) -> None:
    wa_id = raw_wa_id.lstrip("+").replace(" ", "")
    if not wa_id.isdigit() or len(wa_id) > LIMITS["wa_id"]:
        row.problem("wa_id", f"'{raw_wa_id}' is not a WhatsApp id (digits only)")
        return
    line.wa_id = wa_id
    if phone_given:
        return
    # The phone a wa_id spells, when it is a valid number, names the same person.
    try:
        line.phone = normalize_phone("+" + wa_id, field="wa_id")
        line.phone_derived = True
    except InvalidPhone:
        pass


def _read_details(row: _Cells, line: ContactLine, rules: RowRules) -> None:
    """Name, language, external id and tags, each within its limits."""
    line.name = row.text("name")
    if len(line.name) > LIMITS["name"]:
        row.problem("name", f"longer than {LIMITS['name']} characters")
    line.language = row.text("language").lower()
    if line.language and (len(line.language) > 16 or not _LANGUAGE.match(line.language)):
        row.problem("language", f"'{line.language}' is not a language code such as en or pt-br")
    line.external_id = row.text("external_id") or None
    if line.external_id and len(line.external_id) > LIMITS["external_id"]:
        row.problem("external_id", f"longer than {LIMITS['external_id']} characters")
    tags = [t.strip() for t in row.text("tags").split(TAG_SEPARATOR) if t.strip()]
    for tag in tags:
        if len(tag) > LIMITS["tag"] or not TAG_PATTERN.match(tag):
            row.problem(
                "tags", f"'{tag}' is not a tag (letters, digits, - and _; tags split by ';')"
            )
    line.tags = sorted({*tags, *rules.extra_tags})


def _read_attributes(row: _Cells, line: ContactLine) -> None:
    for key, index in row.header.attributes.items():
        value = _text(row.cells[index]) if index < len(row.cells) else ""
        if len(value) > LIMITS["attribute"]:
            row.problem(f"attr:{key}", f"longer than {LIMITS['attribute']} characters")
        elif value:
            line.attributes[key] = value


def _parse_consent(purpose: str, cell, text, rules: RowRules, problem) -> ConsentLine | None:
    status_column, date_column, source_column, notice_column, evidence_column = consent_columns(
        purpose
    )
    status = text(status_column).lower()
    given = {c: text(c) for c in (date_column, source_column, notice_column, evidence_column)}
    if not status:
        for column, value in given.items():
            if value:
                problem(column, f"given without {status_column}")
        return None
    if status not in STATUS_ACTIONS:
        problem(
            status_column,
            f"'{status}' cannot be imported: use legacy or opted_out (an opt-in needs the "
            "person's own answer, recorded with the wording they saw)",
        )
        return None
    action = STATUS_ACTIONS[status]
    if action == Action.LEGACY and rules.legacy_problem:
        problem(status_column, rules.legacy_problem)
    occurred_at = _moment(cell(date_column), date_column, rules, problem)
    notice_id, wording = None, ""
    notice_text = given[notice_column]
    if _NOTICE_REF.match(notice_text):
        found = rules.notices.get(notice_text)
        if found is None:
            problem(notice_column, f"there is no notice {notice_text}")
        elif found[1] != purpose:
            problem(notice_column, f"notice {notice_text} is for {found[1]}, not {purpose}")
        elif not found[2]:
            problem(notice_column, f"notice {notice_text} is not published")
        else:
            notice_id = found[0]
    else:
        wording = notice_text
    for column, limit in (
        (source_column, LIMITS["source"]),
        (notice_column, LIMITS["notice"]),
        (evidence_column, LIMITS["evidence"]),
    ):
        if len(given[column]) > limit:
            problem(column, f"longer than {limit} characters")
    return ConsentLine(
        purpose=purpose,
        action=action,
        occurred_at=occurred_at,
        notice_id=notice_id,
        wording=wording,
        origin=given[source_column],
        note=given[evidence_column],
    )


_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


@lru_cache(maxsize=4096)
def _read_moment(raw: str, zone: str) -> datetime | None:
    """A date or date-time as written in a file (files repeat them: cached)."""
    moment = None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        for pattern in _FORMATS:
            try:
                moment = datetime.strptime(raw, pattern)
                break
            except ValueError:
                continue
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment, zoneinfo.ZoneInfo(zone))
    return moment


def _moment(value: Any, column: str, rules: RowRules, problem) -> datetime | None:
    if value is None or value == "":
        return None
    moment: datetime | None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    else:
        raw = _text(value)
        if not raw:
            return None
        moment = _read_moment(raw, timezone.get_current_timezone_name())
        if moment is None:
            problem(column, f"'{raw}' is not a date (use YYYY-MM-DD or YYYY-MM-DD HH:MM)")
            return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    if moment > rules.latest_allowed:
        problem(column, f"{moment:%Y-%m-%d %H:%M} is in the future")
        return None
    return moment
