import csv
from pathlib import Path

import pytest
from openpyxl import Workbook

from consent.importing import Options, import_contacts
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
