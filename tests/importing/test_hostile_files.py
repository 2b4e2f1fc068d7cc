"""Hostile cells and files: each is reported (row, column, reason) and nothing is written."""

import zipfile

import pytest

from consent.models import ConsentEvent
from contacts.models import Contact
from imports.models import ContactImport
from tests.importing.conftest import excel_workbook

pytestmark = pytest.mark.django_db

HEADER = "phone,name,language,external_id,tags,marketing_status,marketing_date,attr:note"
GOOD = ["+447911123999", "Eve", "en", "crm-9", "vip", "legacy", "2023-05-01", "old"]
COLUMNS = HEADER.split(",")


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize(
    "value", ["\x00", "ab\x00cd", "9" * 5000], ids=["nul", "nul-inside", "long"]
)
def test_a_hostile_cell_is_named_and_nothing_is_written(
    policy, tmp_path, run_import, column, value
):
    row = list(GOOD)
    row[COLUMNS.index(column)] = value
    path = tmp_path / "hostile.csv"
    path.write_text(HEADER + "\n" + ",".join(row) + "\n", encoding="utf-8")

    report = run_import(path)

    assert not report.ok
    assert [p.column for p in report.errors.shown()] == [column]
    assert not Contact.objects.exists() and not ConsentEvent.objects.exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"phone,name\n+447911123999,\xff\xfe\n", "not UTF-8"),
        (b"phone,name\n+447911123999,\xed\xa0\x80\n", "not UTF-8"),
        (b"ph\x00one,name\n+447911123999,Eve\n", "unknown column"),
        (bytes(range(256)) * 4, "not UTF-8"),
        (b"", "the file is empty"),
        ("phone,name\n+447911123999,Eve\n".encode("utf-16"), "not UTF-8"),
        (b"phone,name\n+447911123999,Eve,extra,cells\n", None),
        (b"phone,name\n", None),
    ],
    ids=[
        "not-utf8",
        "encoded-surrogate",
        "nul-in-header",
        "binary",
        "empty",
        "utf16",
        "ragged",
        "header-only",
    ],
)
def test_a_hostile_file_is_reported_not_raised(policy, tmp_path, run_import, content, reason):
    path = tmp_path / "hostile.csv"
    path.write_bytes(content)

    report = run_import(path)

    if reason is None:
        assert report.ok
    else:
        assert not report.ok
        assert any(reason in p.message for p in report.errors.shown()), report.errors.shown()
        assert not Contact.objects.exists()


def test_a_csv_named_xlsx_is_refused(policy, tmp_path, run_import):
    path = tmp_path / "contacts.xlsx"
    path.write_bytes(b"phone\n+447911123999\n")
    report = run_import(path)
    assert [p.message for p in report.errors.shown()] == ["this is not an XLSX workbook"]


def test_a_hostile_upload_ends_as_a_job_with_problems(
    staff_client, policy, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            "/admin/imports/contactimport/upload/",
            {"file": SimpleUploadedFile("contacts.csv", b"phone,name\n+447911123999,a\x00b\n")},
        )
    job = ContactImport.objects.get()
    assert job.stage == ContactImport.Stage.INVALID
    page = staff_client.get(f"/admin/imports/contactimport/{job.pk}/report/")
    assert page.status_code == 200 and b"cannot be stored" in page.content


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_doubled_quotes_in_a_csv_cell_are_one_quote(policy, tmp_path, run_import, delimiter):
    # The header has no quotes to learn the quoting from: the CSV rule holds (RFC 4180).
    path = tmp_path / "quotes.csv"
    lines = ["phone", "name", "attr:note"], ["+447911123456", '"O""Brien"', '"say ""hi"", then go"']
    path.write_text("\n".join(delimiter.join(line) for line in lines) + "\n", encoding="utf-8")

    report = run_import(path)

    assert report.ok, report.errors.shown()
    contact = Contact.objects.get()
    assert contact.name == 'O"Brien' and contact.attributes == {"note": 'say "hi", then go'}


SHEET_START = (
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)


@pytest.mark.parametrize(
    ("part", "content", "reason"),
    [
        (
            "xl/worksheets/sheet1.xml",
            '<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
            f"{SHEET_START}<row><c t='inlineStr'><is><t>&b;</t></is></c></row>"
            "</sheetData></worksheet>",
            "it declares a DTD",
        ),
        (
            "xl/worksheets/sheet1.xml",
            '<?xml version="1.0" encoding="klingon"?><worksheet/>',
            "unknown encoding",
        ),
        ("xl/worksheets/sheet1.xml", "\x00\x01 not xml", "is not well-formed XML"),
        (
            "xl/worksheets/sheet1.xml",
            f"{SHEET_START}<row><c t='s'><v>99</v></c></row></sheetData></worksheet>",
            "a cell names a shared string ('99') not there",
        ),
        (
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="x/worksheet" Target="../../etc/passwd"/>'
            "</Relationships>",
            "it has no part ../etc/passwd",
        ),
        ("xl/workbook.xml", None, "it has no part xl/workbook.xml"),
    ],
    ids=["entities", "unknown-encoding", "not-xml", "no-string", "part-outside", "no-workbook"],
)
def test_a_hostile_workbook_is_reported_not_raised(
    policy, tmp_path, run_import, part, content, reason
):
    good = excel_workbook(tmp_path / "good.xlsx", ["phone"], ["+447911123456"])
    path = tmp_path / "hostile.xlsx"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as out:
        for name in source.namelist():
            if name != part:
                out.writestr(name, source.read(name))
        if content is not None:
            out.writestr(part, content)

    report = run_import(path)

    [problem] = report.errors.shown()
    assert problem.message.startswith("the workbook cannot be read:") and reason in problem.message
    assert not Contact.objects.exists()
