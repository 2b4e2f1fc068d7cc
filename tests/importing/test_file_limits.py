"""Files within limits: size, rows, columns, one cell, and how far a workbook may unzip.

A file past a limit is refused with the reason in words (the admin's job page and
the command say it), before the reader holds more of it than the limit; nothing is
imported. The limits are settings (IMPORT_*).
"""

import io
import struct
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from openpyxl import Workbook

from consent.models import ConsentEvent
from contacts.models import Contact
from imports.models import ContactImport
from tests.importing.conftest import excel_workbook

pytestmark = pytest.mark.django_db

SHEET = "xl/worksheets/sheet1.xml"
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
IMPORT_URL = "/admin/imports/contactimport/upload/"


def refusal(report) -> str:
    """The one problem of a refused file (a file-level problem: row 0)."""
    assert not report.ok
    [problem] = report.errors.shown()
    assert problem.row == 0
    return problem.message


def nothing_imported() -> bool:
    return not Contact.objects.exists() and not ConsentEvent.objects.exists()


def workbook_with_sheet(path, sheet_xml_chunks, *, level: int = 9):
    """A real workbook (openpyxl's parts) whose first sheet is the XML given, in chunks."""
    template = io.BytesIO()
    book = Workbook()
    book.active.append(["phone"])
    book.save(template)
    with (
        zipfile.ZipFile(template) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as out,
    ):
        for item in source.infolist():
            if item.filename != SHEET:
                out.writestr(item, source.read(item.filename))
        with out.open(SHEET, "w") as sheet:
            for chunk in sheet_xml_chunks:
                sheet.write(chunk)
    return path


def bomb_chunks(expanded_mb: int):
    """A header row, then empty rows: a few kilobytes zipped, `expanded_mb` unzipped."""
    yield (
        f'<worksheet xmlns="{MAIN}"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>phone</t></is></c></row>'
    ).encode()
    block = b"<row/>" * (1024 * 1024 // 6)
    for _ in range(expanded_mb):
        yield block
    yield b"</sheetData></worksheet>"


def declare_size(path, name: str, size: int) -> None:
    """Make the zip's local header and central directory both claim `size` for `name`."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    local = data.find(b"PK\x03\x04")
    while local != -1:
        name_length = struct.unpack_from("<H", data, local + 26)[0]
        if data[local + 30 : local + 30 + name_length] == encoded:
            struct.pack_into("<I", data, local + 22, size)
        local = data.find(b"PK\x03\x04", local + 4)
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_length = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_length] == encoded:
            struct.pack_into("<I", data, central + 24, size)
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))


# --- XLSX: a compressed bomb ----------------------------------------------------------


def test_a_zip_bomb_is_refused_from_its_declared_sizes_before_it_is_read(
    policy, tmp_path, run_import
):
    # given 64 MB of sheet XML in a file of a few kilobytes (thousands to one)
    path = workbook_with_sheet(tmp_path / "bomb.xlsx", bomb_chunks(64))
    with zipfile.ZipFile(path) as archive:
        declared = archive.getinfo(SHEET)
    assert path.stat().st_size < 200_000 and declared.file_size > 60 * 1024 * 1024

    report = run_import(path)

    message = refusal(report)
    assert message.startswith("The workbook expands to ")
    assert "times its compressed size; the limit is 100" in message
    assert message.endswith("It looks like a compressed bomb and was not read.")
    assert report.rows == 0 and nothing_imported()


def test_a_workbook_past_the_absolute_cap_is_refused_whatever_its_ratio(
    policy, tmp_path, run_import, settings
):
    settings.IMPORT_XLSX_MAX_RATIO = 100_000
    settings.IMPORT_XLSX_MAX_EXPANDED_MB = 16
    path = workbook_with_sheet(tmp_path / "bomb.xlsx", bomb_chunks(20))

    report = run_import(path)

    assert refusal(report) == (
        "The workbook expands to more than 16 MB; it looks like a compressed bomb and was not read."
    )
    assert nothing_imported()


def test_a_zip_bomb_whose_headers_lie_about_its_size_is_still_refused(policy, tmp_path, run_import):
    # given the same bomb, whose zip headers claim its sheet unzips to 2 KB
    path = workbook_with_sheet(tmp_path / "liar.xlsx", bomb_chunks(64))
    declare_size(path, SHEET, 2048)
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo(SHEET).file_size == 2048

    report = run_import(path)

    # The declared sizes pass; reading stops where the declaration ends, and the
    # checksum of what was read refuses the rest.
    message = refusal(report)
    assert message.startswith("the workbook cannot be read:"), message
    assert report.rows == 0 and nothing_imported()


def test_the_admin_job_page_says_why_a_workbook_was_refused(
    staff_client, policy, tmp_path, django_capture_on_commit_callbacks
):
    path = workbook_with_sheet(tmp_path / "bomb.xlsx", bomb_chunks(64))
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            IMPORT_URL, {"file": SimpleUploadedFile("contacts.xlsx", path.read_bytes())}
        )
    job = ContactImport.objects.get()
    assert job.stage == ContactImport.Stage.INVALID and not job.file

    page = staff_client.get(f"/admin/imports/contactimport/{job.pk}/report/").content.decode()

    assert "It looks like a compressed bomb and was not read." in page
    assert 'class="errornote' in page


# --- Columns, rows, cells --------------------------------------------------------------


def wide_header(columns: int) -> list[str]:
    return ["phone", *(f"attr:key{i}" for i in range(1, columns))]


@pytest.mark.parametrize("name", ["contacts.csv", "contacts.xlsx"])
def test_a_file_with_too_many_columns_is_refused(policy, contacts_file, run_import, name):
    path = contacts_file(wide_header(250), ["+447911123456", *["x"] * 249], name=name)

    report = run_import(path)

    assert refusal(report) == "The file has 250 columns; the limit is 200."
    assert nothing_imported()


@pytest.mark.parametrize("name", ["contacts.csv", "contacts.xlsx"])
def test_a_row_wider_than_the_limit_is_refused_by_its_number(
    policy, contacts_file, run_import, name
):
    path = contacts_file(
        ["phone", "name"],
        ["+447911123456", "Ada"],
        ["+447911123457", "Bob", *["x"] * 248],
        name=name,
    )

    report = run_import(path)

    assert refusal(report) == "Row 3 has 250 columns; the limit is 200."
    assert nothing_imported()


@pytest.mark.parametrize("name", ["contacts.csv", "contacts.xlsx"])
def test_as_many_columns_as_the_limit_are_read(policy, contacts_file, run_import, name):
    path = contacts_file(wide_header(200), ["+447911123456", *["x"] * 199], name=name)

    report = run_import(path)

    assert report.ok, report.errors.shown()
    assert Contact.objects.get().attributes["key199"] == "x"


def test_empty_cells_a_spreadsheet_pads_a_csv_row_with_are_not_columns(
    policy, tmp_path, run_import
):
    path = tmp_path / "padded.csv"
    path.write_text("phone,name" + "," * 400 + "\n+447911123456,Ada" + "," * 400 + "\n")

    report = run_import(path)

    assert report.ok, report.errors.shown()


@pytest.mark.parametrize("name", ["contacts.csv", "contacts.xlsx"])
def test_a_file_with_more_rows_than_the_limit_is_refused(
    policy, contacts_file, run_import, settings, name
):
    settings.IMPORT_MAX_ROWS = 5
    rows = [[f"+4479111234{i:02d}"] for i in range(6)]

    report = run_import(contacts_file(["phone"], *rows, name=name))

    assert refusal(report) == "The file has more than 5 rows; the limit is 5."
    assert nothing_imported()

    report = run_import(contacts_file(["phone"], *rows[:5], name=f"five-{name}"))
    assert report.ok and Contact.objects.count() == 5


@pytest.mark.parametrize("name", ["contacts.csv", "contacts.xlsx"])
@pytest.mark.parametrize("column", ["name", "created_at"], ids=["read", "ignored"])
def test_a_cell_longer_than_the_limit_is_refused_whichever_its_column(
    policy, contacts_file, run_import, name, column
):
    # created_at is a column of our own export, which an import ignores: a cell is
    # refused for its length before anything decides what to do with it.
    path = contacts_file(["phone", column], ["+447911123456", "x" * 10_001], name=name)

    report = run_import(path)

    assert refusal(report) == (
        "Row 2, column B: a cell holds more than 10,000 characters; the limit is 10,000."
    )
    assert nothing_imported()


def test_a_long_shared_string_of_a_workbook_is_refused_where_a_cell_uses_it(
    policy, tmp_path, run_import
):
    # Spreadsheet programs keep text in the workbook's table of shared strings.
    path = excel_workbook(
        tmp_path / "shared.xlsx",
        ["phone", "name"],
        ["+447911123456", "Ada"],
        ["+447911123457", "y" * 10_001],
    )

    report = run_import(path)

    assert refusal(report) == (
        "Row 3, column B: a cell holds more than 10,000 characters; the limit is 10,000."
    )


def test_a_cell_past_the_csv_modules_own_bound_is_refused_with_the_reason(
    policy, contacts_file, run_import
):
    path = contacts_file(["phone", "created_at"], ["+447911123456", "x" * 200_000])

    report = run_import(path)

    assert refusal(report) == (
        "Row 2: a cell holds more than 10,000 characters (is a quote never closed?); "
        "the limit is 10,000."
    )


def test_a_quote_never_closed_is_refused_before_the_rest_of_the_file_is_held(
    policy, tmp_path, run_import
):
    path = tmp_path / "unclosed.csv"
    path.write_text('phone,name\n+447911123456,"' + "a,b,c\n" * 500_000)

    report = run_import(path)

    assert refusal(report).startswith("Row 2: a cell holds more than 10,000 characters (is a")
    assert nothing_imported()


def test_a_row_longer_than_any_within_the_limits_is_refused_before_it_is_held(
    policy, tmp_path, run_import
):
    path = tmp_path / "commas.csv"
    path.write_text("phone,name\n+447911123456" + "," * 3_000_000 + "\n")

    report = run_import(path)

    assert refusal(report) == (
        "Row 2 is longer than 2,000,602 characters: it has more than 200 columns, a cell "
        "longer than 10,000 characters, or a quote that is never closed."
    )


# --- The file's size -------------------------------------------------------------------


def test_the_command_refuses_a_file_larger_than_the_limit(policy, contacts_file, settings, capsys):
    settings.IMPORT_MAX_FILE_MB = 0.001  # 1,048 bytes
    rows = [[f"+4479111{i:05d}", f"Person {i}"] for i in range(100)]
    path = contacts_file(["phone", "name"], *rows)
    assert path.stat().st_size > 1048

    with pytest.raises(CommandError, match="1 problem"):
        call_command("import_contacts", str(path), "--workers", "1")

    assert f"The file is {path.stat().st_size:,} bytes; the limit is 1,048 bytes." in (
        capsys.readouterr().err
    )
    assert nothing_imported()


def test_the_admin_refuses_an_upload_larger_than_the_limit_and_keeps_nothing(
    staff_client, policy, settings, tmp_path
):
    settings.IMPORT_MAX_FILE_MB = 0.001
    content = b"phone,name\n" + b"".join(
        f"+4479111{i:05d},Person {i}\n".encode() for i in range(100)
    )

    response = staff_client.post(IMPORT_URL, {"file": SimpleUploadedFile("big.csv", content)})

    assert response.status_code == 200
    assert "The file is larger than 1,048 bytes, the limit." in response.content.decode()
    assert not ContactImport.objects.exists()
    uploads = settings.IMPORT_UPLOAD_DIR
    assert not uploads.exists() or not any(uploads.rglob("*.csv"))


def test_the_upload_page_states_the_limits(staff_client):
    page = staff_client.get(IMPORT_URL).content.decode()
    assert "50 MB" in page and "200 columns" in page and "2,000,000 rows" in page
