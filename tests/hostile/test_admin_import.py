"""Strings × columns and hostile files in the admin's contact import.

The admin checks a file (a dry run) before anything is imported, and the import
itself runs the same rows for real: a NUL in any cell, a file that is not UTF-8 or
not a table is reported on the page, and nothing is imported either way.
"""

import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.hostile.conftest import assert_page_answer, nothing_written

pytestmark = pytest.mark.django_db

IMPORT_URL = "/admin/imports/contactimport/upload/"
HEADERS = [
    "phone",
    "name",
    "language",
    "external_id",
    "tags",
    "marketing",
    "service",
    "consented_at",
    "note",
]
GOOD_ROW = {
    "phone": "+447911123999",
    "name": "Eve",
    "language": "en",
    "external_id": "crm-9",
    "tags": "vip",
    "marketing": "legacy",
    "service": "",
    "consented_at": "2023-05-01",
    "note": "old CRM",
}
CELLS = [
    ("nul", "\x00"),
    ("nul-inside", "ab\x00cd"),
    ("long", "9" * 5000),
    ("time-without-utc", "0001-01-01T00:00:00+14:00"),
]
CELL_CASES = [
    pytest.param(column, value, id=f"{column}-{value_id}")
    for column in HEADERS
    for value_id, value in CELLS
    # A date is only read from its own column.
    if value_id != "time-without-utc" or column == "consented_at"
    # A long note is kept, cut to 1,000 characters.
    if (column, value_id) != ("note", "long")
]


def csv_file(row: dict[str, str]) -> bytes:
    data = tablib.Dataset(headers=HEADERS)
    data.append([row[h] for h in HEADERS])
    return data.export("csv").encode("utf-8")


@pytest.fixture
def import_page(staff_client):
    def check(content: bytes, name: str = "contacts.csv"):
        upload = SimpleUploadedFile(name, content, content_type="text/csv")
        # Format 0 is CSV.
        return staff_client.post(
            IMPORT_URL, {"format": "0", "import_file": upload, "resource": "0"}
        )

    return check


@pytest.mark.parametrize(("column", "value"), CELL_CASES)
def test_a_hostile_cell_is_reported_by_the_admin_check(world, import_page, column, value):
    with nothing_written():
        response = import_page(csv_file({**GOOD_ROW, column: value}))

    assert_page_answer(response, status=200)
    assert b"confirm_form" not in response.content and b"Confirm import" not in response.content


HOSTILE_FILES = [
    ("not-utf8", b"phone,name\n+447911123999,\xff\xfe\n"),
    ("utf8-encoded-surrogate", b"phone,name\n+447911123999,\xed\xa0\x80\n"),
    ("nul-in-header", b"ph\x00one,name\n+447911123999,Eve\n"),
    ("binary", bytes(range(256)) * 4),
    ("empty", b""),
    ("header-only", (",".join(HEADERS) + "\n").encode()),
    ("utf16", "phone,name\n+447911123999,Eve\n".encode("utf-16")),
    ("ragged-rows", b"phone,name\n+447911123999,Eve,extra,cells\n,\n"),
]


@pytest.mark.parametrize(
    "content", [c for _, c in HOSTILE_FILES], ids=[i for i, _ in HOSTILE_FILES]
)
def test_a_hostile_file_is_reported_by_the_admin_check(world, import_page, content):
    with nothing_written():
        response = import_page(content)

    assert_page_answer(response, status=200)
