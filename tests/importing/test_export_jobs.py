"""Exports as jobs: asked for in the admin, written on the `files` queue under the file
time limits, downloaded only by the person who asked; words by default, codes on request."""

import csv
import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.checks import run_checks
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook

from config.celery import app
from consent.rules import Action
from imports import export_jobs, tasks
from imports.models import ExportJob
from staff.models import AuditEntry
from tests.consent_helpers import record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db
CONTACTS = "/admin/imports/exportjob/contacts/"
LEDGER = "/admin/imports/exportjob/ledger/"
MOMENT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def staff(*roles: str) -> Client:
    user = get_user_model().objects.create_user(
        "-".join(roles) or "nobody", password="pw", is_staff=True
    )
    for role in roles:
        user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def ask(django_capture_on_commit_callbacks):
    """ask(client, url, **form) -> the job, written (eagerly here) once asked for."""

    def run(client, url=CONTACTS, run_task: bool = True, **form) -> ExportJob:
        form = {"file_format": "csv", "style": "words", **form}
        with django_capture_on_commit_callbacks(execute=run_task):
            response = client.post(url, form)
        assert response.status_code == 302, response.content.decode()[-2000:]
        return ExportJob.objects.get(pk=response.url.split("/")[-3])

    return run


@pytest.fixture
def ada(db):
    contact = ContactFactory(phone="+447911123456", name="Ada", language="es")
    record(contact, Action.GRANT, at=MOMENT)
    return contact


def download(client, job: ExportJob):
    return client.get(f"/admin/imports/exportjob/{job.pk}/download/")


def test_exports_run_on_the_files_queue():
    assert app.amqp.router.route({}, "imports.tasks.run_export")["queue"].name == "files"
    assert tasks.run_export.soft_time_limit == tasks.run_contact_import.soft_time_limit
    assert tasks.run_export.time_limit == tasks.run_contact_import.time_limit


def test_asking_for_an_export_makes_a_job_not_a_file(ask, ada):
    client = staff("Marketing")

    job = ask(client, run_task=False)

    assert job.status == ExportJob.Status.QUEUED and not job.file
    assert job.requested_by == client.user and job.description == "every contact (1 contact)"
    page = client.get(f"/admin/imports/exportjob/{job.pk}/progress/").content.decode()
    assert '<meta http-equiv="refresh" content="2">' in page and "Waiting for a worker" in page
    assert AuditEntry.objects.filter(action="export_contacts", actor_user=client.user).exists()


def test_a_finished_export_downloads_for_the_person_who_asked(ask, ada):
    client = staff("Marketing")

    job = ask(client)

    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE and job.rows == 1
    page = client.get(f"/admin/imports/exportjob/{job.pk}/progress/").content.decode()
    assert "Ready to download" in page and 'http-equiv="refresh"' not in page
    assert f"/admin/imports/exportjob/{job.pk}/download/" in page
    response = download(client, job)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="contacts-')


def test_in_words_states_sources_languages_and_dates_read_as_words(ask, ada):
    client = staff("Marketing")

    job = ask(client)

    [row] = list(csv.DictReader(io.StringIO(b"".join(download(client, job)).decode())))
    assert row["Name"] == "Ada" and row["Language"] == "Spanish"
    assert row["Marketing consent"] == "Opted in" and row["Service consent"] == "No consent"
    assert row["Marketing consent source"] == "API"
    assert row["Marketing consent since (UTC)"] == "2026-03-01 09:30:00"


def test_in_codes_the_values_are_as_stored(ask, ada):
    client = staff("Marketing")

    job = ask(client, style="codes")

    [row] = list(csv.DictReader(io.StringIO(b"".join(download(client, job)).decode())))
    assert (row["language"], row["marketing_state"], row["marketing_state_source"]) == (
        "es",
        "opted_in",
        "api",
    )
    assert row["marketing_state_since"] == "2026-03-01T09:30:00+00:00"


def test_an_xlsx_in_words_holds_real_dates(ask, ada):
    client = staff("Marketing")

    job = ask(client, file_format="xlsx")

    content = b"".join(download(client, job))
    sheet = load_workbook(io.BytesIO(content)).worksheets[0]
    header = [c.value for c in sheet[1]]
    since = sheet.cell(row=2, column=header.index("Marketing consent since (UTC)") + 1)
    assert since.is_date and since.value == datetime(2026, 3, 1, 9, 30)
    # In the bytes: a number with a date style, not a string.
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "2026-03-01" not in xml and "46082.395833" in xml


def test_a_marketing_user_cannot_export_or_download_the_ledger(ask, ada):
    compliance, marketing = staff("Compliance"), staff("Marketing")
    today = "2026-03-01"
    job = ask(compliance, LEDGER, start=today, end=today)
    assert download(compliance, job).status_code == 200

    assert marketing.get(LEDGER).status_code == 403
    assert marketing.post(LEDGER, {"start": today, "end": today}).status_code == 403
    assert download(marketing, job).status_code == 404
    assert marketing.get(f"/admin/imports/exportjob/{job.pk}/progress/").status_code == 404


def test_the_ledger_links_its_export_for_compliance_only():
    link = LEDGER
    assert link in staff("Compliance").get("/admin/consent/consentevent/").content.decode()
    assert link not in staff("Marketing").get("/admin/consent/consentevent/").content.decode()


def test_nobody_downloads_another_persons_export(ask, ada):
    one, other = staff("Marketing"), staff("Marketing", "Compliance")

    job = ask(one)

    assert download(other, job).status_code == 404
    assert download(one, job).status_code == 200
    # Each sees only their own exports in the list.
    assert str(job.pk) not in other.get("/admin/imports/exportjob/").content.decode()


def test_the_ledger_export_needs_the_role_still_at_download(ask, ada):
    compliance = staff("Compliance")
    job = ask(compliance, LEDGER, start="2026-03-01", end="2026-03-01")

    compliance.user.groups.clear()

    assert download(compliance, job).status_code in (403, 404)


def test_an_export_past_its_soft_limit_ends_as_failed_and_says_why(ask, ada, monkeypatch, settings):
    client = staff("Marketing")

    def out_of_time(*args, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(export_jobs, "write_csv", out_of_time)
    job = ask(client)

    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED and not job.file
    assert job.error.startswith("The export stopped at its time limit (1 hour)")
    page = client.get(f"/admin/imports/exportjob/{job.pk}/progress/").content.decode()
    assert "stopped at its time limit" in page and 'http-equiv="refresh"' not in page


def test_an_export_killed_at_its_hard_limit_ends_as_failed(ask, ada, settings):
    client = staff("Marketing")
    job = ask(client, run_task=False)
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.RUNNING)

    tasks.run_export.on_failure(
        TimeLimitExceeded(settings.IMPORT_TASK_TIME_LIMIT), "task-id", (str(job.pk),), {}, None
    )

    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED
    assert "stopped at its time limit (65 minutes)" in job.error


def test_the_settings_check_names_exports_too(settings):
    settings.IMPORT_TASK_TIME_LIMIT = settings.IMPORT_TASK_SOFT_TIME_LIMIT
    [error] = [e for e in run_checks() if e.id == "config.E020"]
    assert "exports" in error.hint


# --- Old files are deleted; the job stays, "expired" --------------------------------


def test_an_export_past_its_retention_loses_its_file_and_reads_expired(ask, ada, settings):
    settings.EXPORT_RETENTION_DAYS = 7
    client = staff("Marketing")
    old, recent = ask(client), ask(client)
    ExportJob.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=8))
    old.refresh_from_db()
    old_file = Path(old.file.path)
    assert old_file.exists()

    assert tasks.expire_old_exports() == 1

    old.refresh_from_db()
    assert not old_file.exists() and not old.file
    assert old.status == ExportJob.Status.EXPIRED and old.expired_at is not None
    assert old.rows == 1 and old.file_name
    page = client.get(f"/admin/imports/exportjob/{old.pk}/progress/").content.decode()
    assert "Expired" in page and "7 days after it was written" in page
    assert f"/admin/imports/exportjob/{old.pk}/download/" not in page
    assert download(client, old).status_code == 410
    recent.refresh_from_db()
    assert recent.status == ExportJob.Status.DONE and Path(recent.file.path).exists()
    assert download(client, recent).status_code == 200


def test_expiring_twice_deletes_nothing_more(ask, ada):
    job = ask(staff("Marketing"))
    ExportJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=30))

    assert export_jobs.expire_old_exports() == 1
    assert export_jobs.expire_old_exports() == 0


def test_a_ready_export_says_until_when_its_file_is_kept(ask, ada, settings):
    settings.EXPORT_RETENTION_DAYS = 3
    client = staff("Marketing")
    job = ask(client)
    job.refresh_from_db()

    page = client.get(f"/admin/imports/exportjob/{job.pk}/progress/").content.decode()

    assert "kept until" in page
    assert job.kept_until == job.finished_at + timedelta(days=3)


def test_old_exports_expire_on_the_files_queue_every_hour(settings):
    route = app.amqp.router.route({}, "imports.tasks.expire_old_exports")
    assert route["queue"].name == "files"
    assert settings.CELERY_BEAT_SCHEDULE["imports-expire-old-exports"]["schedule"] == 3600
