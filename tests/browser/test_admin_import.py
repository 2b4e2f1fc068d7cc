"""The admin import in real Chromium: upload, the check's report, confirm, progress, result;
a file refused with its reason; and exporting the selected contacts."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from openpyxl import load_workbook
from playwright.sync_api import expect

from consent.models import ConsentEvent, ReconsentPolicy
from contacts.models import Contact
from imports import jobs, tasks
from imports.models import ContactImport

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ROWS = 3000


def contacts_csv(path):
    lines = ["phone,name,tags,marketing_status,marketing_date,service_status"]
    lines += [
        f"+4479111{i:05d},Person {i},spring,legacy,2023-05-01,{'opted_out' if i % 3 == 0 else ''}"
        for i in range(ROWS)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def staff_page(desk, live_server, settings, tmp_path):
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    ReconsentPolicy.objects.create(
        name="Grace period", deadline=timezone.now() + timedelta(days=60), active=True
    )
    get_user_model().objects.create_superuser("staff", "staff@example.com", "staff-pw")
    page = desk.page
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill("staff-pw")
    page.get_by_role("button", name="Log in").click()
    return desk


def test_upload_check_confirm_and_watch_the_progress_bar_finish(
    staff_page, live_server, tmp_path, monkeypatch
):
    page = staff_page.page
    page.goto(f"{live_server.url}/admin/imports/contactimport/upload/")
    page.get_by_label("File:", exact=True).set_input_files(
        str(contacts_csv(tmp_path / "contacts.csv"))
    )
    page.get_by_role("button", name="Check the file").click()

    # The check's report: counts, and the rows with their consent columns.
    expect(page.get_by_text("What the import will do")).to_be_visible()
    counts = page.locator(".import-counts")
    expect(counts.locator(".import-count", has_text="New contacts")).to_contain_text(f"{ROWS:,}")
    preview = page.locator(".import-preview table")
    expect(preview.locator("thead")).to_contain_text("marketing_status")
    expect(preview.locator("thead")).to_contain_text("service_status")
    expect(preview.locator("tbody tr").first).to_contain_text("legacy")
    expect(preview.locator("tbody tr").first).to_contain_text("opted_out")
    staff_page.screenshot("11-admin-import-report")
    assert not Contact.objects.exists()

    # Confirm: the worker (here a thread, as a Celery worker would) picks it up.
    queued: list[str] = []
    monkeypatch.setattr(tasks.run_contact_import, "delay", queued.append)
    page.get_by_role("button", name=f"Import {ROWS} rows").click()
    expect(page.get_by_text("Confirmed: waiting for a worker")).to_be_visible()
    expect(page.locator("progress#import-progress")).to_be_visible()
    [job_id] = queued

    # The import holds after its first progress report until the page has shown it
    # running: a fast import would otherwise finish before the page's next refresh.
    page_saw_it_running = threading.Event()
    report_progress = jobs._ProgressWriter.__call__

    def report_then_hold(self, phase, done, total):
        report_progress(self, phase, done, total)
        page_saw_it_running.wait(timeout=60)

    monkeypatch.setattr(jobs._ProgressWriter, "__call__", report_then_hold)

    def work():
        try:
            jobs.run_import(job_id)
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    try:
        expect(page.get_by_text("Importing")).to_be_visible(timeout=30_000)
        expect(page.locator("progress#import-progress")).to_be_visible()
        staff_page.screenshot("12-admin-import-progress")
        page_saw_it_running.set()
        # The page refreshes itself until the import is done.
        expect(page.get_by_text("What was imported")).to_be_visible(timeout=120_000)
    finally:
        page_saw_it_running.set()
        worker.join(timeout=300)
    staff_page.screenshot("13-admin-import-result")

    job = ContactImport.objects.get(pk=job_id)
    assert job.stage == ContactImport.Stage.DONE and not job.file
    assert Contact.objects.count() == ROWS
    assert ConsentEvent.objects.count() == ROWS + ROWS // 3
    # Confirming again does nothing: the button is gone and a replayed POST is refused.
    expect(page.get_by_role("button", name=f"Import {ROWS} rows")).to_have_count(0)
    assert not jobs.confirm_import(job=job, confirmed_by=job.uploaded_by)
    assert staff_page.csp_violations == []


def test_a_file_past_a_limit_is_refused_with_the_reason_on_its_page(
    staff_page, live_server, tmp_path
):
    wide = tmp_path / "wide.csv"
    header = ["phone", *(f"attr:key{i}" for i in range(1, 250))]
    wide.write_text(",".join(header) + "\n" + ",".join(["+447911123456", *["x"] * 249]) + "\n")
    page = staff_page.page
    page.goto(f"{live_server.url}/admin/imports/contactimport/upload/")
    expect(page.locator(".import-limits")).to_contain_text("200 columns")
    page.get_by_label("File:", exact=True).set_input_files(str(wide))
    page.get_by_role("button", name="Check the file").click()

    expect(page.get_by_text("Has problems: nothing imported")).to_be_visible()
    reason = page.locator(".errornote")
    expect(reason).to_have_text("The file has 250 columns; the limit is 200.")
    # Drawn by the theme's own error box, like the admin's other errors.
    assert "bg-red-100" in reason.get_attribute("class")
    expect(page.locator("form.import-confirm")).to_have_count(0)
    staff_page.screenshot("14-admin-import-refused")
    staff_page.check_accessibility()
    assert not Contact.objects.exists()


def test_export_selected_downloads_the_checked_contacts_only(
    staff_page, live_server, settings, tmp_path
):
    settings.EXPORT_FILE_DIR = tmp_path / "exports"
    for i, name in enumerate(["Ada", "Bob", "Cy"]):
        Contact.objects.create(phone=f"+44791112345{i}", name=name)
    page = staff_page.page
    page.goto(f"{live_server.url}/admin/contacts/contact/?o=2")
    for name in ("Ada", "Cy"):
        page.locator("tr", has_text=name).locator("input.action-select").check()
    page.locator("select[name=action]").select_option("export_selected")
    page.get_by_role("button", name="Run").click()

    # The format is chosen for exactly the selection; a worker (eager here) writes the file.
    expect(page.get_by_text("The 2 contacts you selected.")).to_be_visible()
    staff_page.screenshot("15-admin-export-selected-choice")
    page.get_by_label("XLSX (Excel)").check()
    page.get_by_label("Codes, for machines").check()
    page.get_by_role("button", name="Export").click()
    expect(page.get_by_text("Ready to download", exact=True)).to_be_visible()
    staff_page.screenshot("16-admin-export-ready")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download contacts-").click()

    assert download.value.suggested_filename.endswith(".xlsx")
    with open(download.value.path(), "rb") as handle:
        sheet = load_workbook(handle, read_only=True).worksheets[0]
        header, *rows = list(sheet.iter_rows(values_only=True))
    assert sorted(dict(zip(header, row, strict=True))["name"] for row in rows) == ["Ada", "Cy"]
    assert staff_page.csp_violations == []
