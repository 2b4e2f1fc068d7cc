import csv
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from openpyxl import Workbook

from imports.engine import Options, import_contacts
from tests.factories import PolicyFactory


def write_csv(path: Path, header: list[str], *rows: list) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, header: list[str], *rows: list) -> Path:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


@pytest.fixture
def policy(db):
    return PolicyFactory()


@pytest.fixture
def contacts_file(tmp_path):
    """contacts_file(header, *rows, name="contacts.csv") -> path (CSV or XLSX by the name)."""

    def make(header: list[str], *rows: list, name: str = "contacts.csv") -> Path:
        writer = write_xlsx if name.endswith(".xlsx") else write_csv
        return writer(tmp_path / name, header, *rows)

    return make


@pytest.fixture
def run_import():
    def run(file: Path, **options):
        return import_contacts(file, options=Options(**options))

    return run


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"


MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def excel_workbook(path: Path, *rows: list) -> Path:
    """A workbook shaped as spreadsheet programs write it, which openpyxl's writer is not:
    text in the shared-strings table, dates as serial numbers with a date style.

    Cells: str (a shared string), ("runs", [text, …]) (rich text, and a phonetic
    reading that is not part of it), int or float, bool, ("date", serial) (built-in
    date style), ("datetime", serial) (a custom one), ("formula", text, cached value),
    None (no cell).
    """
    strings: list[str] = []

    def shared(xml: str) -> int:
        strings.append(xml)
        return len(strings) - 1

    def cell(ref: str, value) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
        if isinstance(value, int | float):
            return f'<c r="{ref}"><v>{value}</v></c>'
        if isinstance(value, str):
            return f'<c r="{ref}" t="s"><v>{shared(f"<t>{escape(value)}</t>")}</v></c>'
        kind, *rest = value
        if kind == "runs":
            runs = "".join(f"<r><rPr><b/></rPr><t>{escape(t)}</t></r>" for t in rest[0])
            index = shared(runs + '<rPh sb="0" eb="1"><t>ignored</t></rPh>')
            return f'<c r="{ref}" t="s"><v>{index}</v></c>'
        if kind in ("date", "datetime"):
            return f'<c r="{ref}" s="{1 if kind == "date" else 2}"><v>{rest[0]}</v></c>'
        formula, cached = rest
        return f'<c r="{ref}" t="str"><f>{escape(formula)}</f><v>{escape(cached)}</v></c>'

    sheet_rows = []
    for number, values in enumerate(rows, start=1):
        cells = "".join(cell(f"{chr(65 + i)}{number}", v) for i, v in enumerate(values))
        sheet_rows.append(f'<row r="{number}">{cells}</row>')
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            + "".join(
                f'<Override PartName="/xl/{part}.xml" ContentType="application/'
                f'vnd.openxmlformats-officedocument.spreadsheetml.{kind}+xml"/>'
                for part, kind in (
                    ("workbook", "sheet.main"),
                    ("worksheets/sheet1", "worksheet"),
                    ("styles", "styles"),
                    ("sharedStrings", "sharedStrings"),
                )
            )
            + "</Types>"
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{RELS_NS}"><Relationship Id="rId1" '
            f'Type="{DOC_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{MAIN_NS}" xmlns:r="{DOC_RELS}"><sheets>'
            '<sheet name="Contacts" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{RELS_NS}">'
            f'<Relationship Id="rId1" Type="{DOC_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{DOC_RELS}/styles" Target="styles.xml"/>'
            f'<Relationship Id="rId3" Type="{DOC_RELS}/sharedStrings" '
            'Target="sharedStrings.xml"/></Relationships>'
        ),
        "xl/styles.xml": (
            f'<styleSheet xmlns="{MAIN_NS}"><numFmts count="1">'
            '<numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd\\ hh:mm"/></numFmts>'
            '<cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="164"/>'
            "</cellXfs></styleSheet>"
        ),
        "xl/worksheets/sheet1.xml": (
            f'<worksheet xmlns="{MAIN_NS}"><sheetData>{"".join(sheet_rows)}</sheetData></worksheet>'
        ),
        "xl/sharedStrings.xml": (
            f'<sst xmlns="{MAIN_NS}" count="{len(strings)}" uniqueCount="{len(strings)}">'
            + "".join(f"<si>{s}</si>" for s in strings)
            + "</sst>"
        ),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, xml in parts.items():
            archive.writestr(name, '<?xml version="1.0" encoding="UTF-8"?>\n' + xml)
    return path


@pytest.fixture(autouse=True)
def _exports_in_tmp(settings, tmp_path):
    settings.EXPORT_FILE_DIR = tmp_path / "exports"
