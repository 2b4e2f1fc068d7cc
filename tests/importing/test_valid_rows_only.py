"""Importing the valid rows only: rows with problems are left out, the rest imported,
on the row path and on PostgreSQL's set-based fast path alike; all or nothing stays
the default. Every rejected row keeps its reasons, in words, for the rejected rows file."""

import csv

import pytest
from django.db import connection

from consent.models import ConsentEvent, ConsentState
from contacts.models import Contact
from imports.rejected import write_rejected_rows
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

HEADER = ["phone", "name", "external_id", "marketing_status", "marketing_date"]
ROWS = [
    ["+447911123456", "Ada", "", "legacy", "2023-05-01"],
    ["07700 900123", "Drama", "", "legacy", ""],  # row 3: reserved for drama
    ["+447911123457", "Bob", "", "opted_out", ""],
    ["+447911123456", "Ada again", "", "", ""],  # row 5: the phone of row 2 again
    ["+44 20", "Short", "", "", ""],  # row 6: too short
    ["+447911123458", "Cy", "crm-1", "legacy", ""],  # row 7: crm-1 is someone else's
    ["+447911123459", "Di", "", "", ""],
]
REJECTED = {
    3: ["phone: 07700 900123: this range is reserved for drama and never assigned"],
    5: ["phone: phone +447911123456 is also on row 2: each person may appear once per file"],
    6: ["phone: +44 20: too short for a UK number"],
    7: ["phone: the contact this row names has phone +447911000000, not +447911123458"],
}


@pytest.fixture
def known(db):
    return ContactFactory(phone="+447911000000", external_id="crm-1", name="Known")


METHODS = [
    pytest.param("rows", id="row-path"),
    pytest.param("fast", id="fast-path", marks=pytest.mark.postgres),
]


@pytest.fixture(params=METHODS)
def method(request):
    if request.param == "fast" and connection.vendor != "postgresql":
        pytest.skip("the set-based fast path is PostgreSQL's")
    return request.param


def test_all_or_nothing_is_the_default(policy, known, contacts_file, run_import, method):
    report = run_import(contacts_file(HEADER, *ROWS), method=method)

    # It stops at the first stage that finds problems, before anything is written.
    assert not report.ok and 3 <= report.rejected_rows <= 4
    assert list(Contact.objects.values_list("name", flat=True)) == ["Known"]
    assert not ConsentEvent.objects.exists()


def test_the_valid_rows_only_are_imported(policy, known, contacts_file, run_import, method):
    report = run_import(contacts_file(HEADER, *ROWS), method=method, valid_rows_only=True)

    assert report.ok, report.errors.shown()
    assert sorted(Contact.objects.values_list("name", flat=True)) == [
        "Ada",
        "Bob",
        "Di",
        "Known",
    ]
    assert (report.rows, report.new_contacts, report.rejected_rows) == (7, 3, 4)
    assert report.skipped_rows == 0 and report.events == 2
    assert ConsentState.objects.filter(contact__name="Bob", status="opted_out").exists()
    assert report.errors.by_row == REJECTED


def test_a_dry_run_of_the_valid_rows_counts_only_them(
    policy, known, contacts_file, run_import, method
):
    report = run_import(
        contacts_file(HEADER, *ROWS), method=method, valid_rows_only=True, dry_run=True
    )

    assert (report.new_contacts, report.events, report.rejected_rows) == (3, 2, 4)
    assert Contact.objects.count() == 1


def test_the_rejected_rows_file_has_the_original_columns_and_the_reason(
    policy, known, contacts_file, run_import, tmp_path
):
    path = contacts_file(HEADER, *ROWS)
    report = run_import(path, valid_rows_only=True, dry_run=True)

    with open(tmp_path / "rejected.csv", "wb") as out:
        written = write_rejected_rows(str(path), path.name, report.errors.by_row, out)

    with open(tmp_path / "rejected.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert written == 4
    assert rows[0] == [*HEADER, "problem"]
    # A cell a spreadsheet would run ("+44 20") is escaped; the import reads it back.
    assert rows[1:] == [
        ["07700 900123", "Drama", "", "legacy", "", REJECTED[3][0]],
        ["'+447911123456", "Ada again", "", "", "", REJECTED[5][0]],
        ["'+44 20", "Short", "", "", "", REJECTED[6][0]],
        ["'+447911123458", "Cy", "crm-1", "legacy", "", REJECTED[7][0]],
    ]


def test_a_file_refused_as_a_whole_imports_nothing_even_for_valid_rows(
    policy, contacts_file, run_import
):
    report = run_import(
        contacts_file(["phone", "nonsense"], ["+447911123456", "x"]), valid_rows_only=True
    )

    assert not report.ok and report.refused_as_a_whole
    assert not Contact.objects.exists()
