"""A check or an import past its time limit ends as failed, says why, and leaves nothing half-done.

Soft limit: the job ends itself (an import on PostgreSQL is one transaction, undone),
run here by a real worker (PostgreSQL: it shares the test database). Hard limit: the
worker kills the process and calls the task's failure hook from its main process;
the hook is called directly here (a task stuck past its soft limit in one long
statement is what reaches it).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery.exceptions import TimeLimitExceeded
from django.contrib.auth import get_user_model
from django.core.checks import run_checks
from django.core.files import File
from django.db import connection

from config.celery import app
from consent.models import ConsentEvent
from contacts.models import Contact
from imports import tasks
from imports.models import ContactImport
from tests.environment import BROKER_URL
from tests.factories import PolicyFactory

ROOT = Path(__file__).resolve().parents[2]
ROWS = 30_000
Stage = ContactImport.Stage


def confirmed_job(path: Path, stage: str = Stage.QUEUED) -> ContactImport:
    user = get_user_model().objects.create_user("importer", is_staff=True)
    job = ContactImport(file_name=path.name, uploaded_by=user, confirmed_by=user, stage=stage)
    with open(path, "rb") as handle:
        job.file.save(path.name, File(handle), save=False)
    job.save()
    return job


def contacts_csv(path: Path) -> Path:
    lines = ["phone,name,marketing_status,marketing_date"]
    lines += [f"+4479111{i:05d},Person {i},legacy,2023-05-01" for i in range(ROWS)]
    path.write_text("\n".join(lines) + "\n")
    return path


class Worker:
    """`celery worker` (prefork: time limits need it) on this run's database and broker."""

    def __init__(self, tmp_path: Path, settings, **limits: str) -> None:
        db = connection.settings_dict
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        env = {
            **os.environ,
            "DATABASE_URL": (
                f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
            ),
            "CELERY_BROKER_URL": BROKER_URL,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "PHONE_HASH_KEY": settings.PHONE_HASH_KEY,
            # Where this process keeps uploaded files (the storage is made at start-up).
            "IMPORT_UPLOAD_DIR": ContactImport._meta.get_field("file").storage.location,
            **limits,
        }
        celery = [sys.executable, "-m", "celery", "-A", "config"]
        subprocess.run([*celery, "purge", "-f"], cwd=ROOT, env=env, check=True, capture_output=True)
        self.log = open(tmp_path / "worker.log", "w+")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            # Imports run on the `files` queue once routed there; the default queue too.
            [*celery, "worker", "--pool=prefork", "--concurrency=1", "-Q", "celery,files"]
            + ["--loglevel=INFO", "--without-heartbeat", "--without-mingle", "--without-gossip"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def run(self, task_name: str, job: ContactImport) -> None:
        # Sent as the web process sends it, but with the worker's own limits: a message
        # carries the sender's limits, and this process has the default ones.
        with app.connection_for_write(BROKER_URL) as broker:
            app.send_task(
                task_name,
                args=[str(job.pk)],
                connection=broker,
                time_limit=None,
                soft_time_limit=None,
            )

    def stop(self) -> str:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.seek(0)
        text = self.log.read()
        self.log.close()
        return text


def ended(job: ContactImport, *, patience: float = 120) -> ContactImport:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if not job.in_progress:
            return job
        time.sleep(0.2)
    return job


@pytest.fixture
def on_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database, which needs PostgreSQL (CI runs this)")


@pytest.mark.worker
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
# send_task always goes to the broker, which is the point here.
@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_an_import_past_its_soft_limit_is_undone_and_says_why(on_postgres, tmp_path, settings):
    # given a confirmed import of 30,000 rows (seconds of work) and a limit of one second
    PolicyFactory()
    job = confirmed_job(contacts_csv(tmp_path / "contacts.csv"))
    worker = Worker(
        tmp_path, settings, IMPORT_TASK_SOFT_TIME_LIMIT="1", IMPORT_TASK_TIME_LIMIT="60"
    )
    try:
        # when the worker runs it
        worker.run("imports.tasks.run_contact_import", job)
        job = ended(job)
    finally:
        log = worker.stop()

    # then it ends as failed, with the reason, and nothing of it stays
    assert job.stage == Stage.FAILED, log[-3000:]
    assert job.error == (
        "The import stopped at its time limit (1 second) and was undone: nothing was "
        "imported. Split the file, or ask for a longer limit (IMPORT_TASK_SOFT_TIME_LIMIT)."
    )
    assert job.finished_at is not None and not job.file
    assert not Contact.objects.exists() and not ConsentEvent.objects.exists()


@pytest.mark.django_db
def test_the_job_page_shows_why_a_job_ended_at_its_limit(staff_client, tmp_path, settings):
    job = confirmed_job(contacts_csv(tmp_path / "contacts.csv"), stage=Stage.RUNNING)

    # when the worker's main process reports the task killed at its hard limit (a soft
    # limit a task is stuck past, in one long statement: Celery calls this hook then)
    tasks.run_contact_import.on_failure(
        TimeLimitExceeded(settings.IMPORT_TASK_TIME_LIMIT), "task-id", (str(job.pk),), {}, None
    )

    job.refresh_from_db()
    assert job.stage == Stage.FAILED and not job.file
    page = staff_client.get(f"/admin/imports/contactimport/{job.pk}/report/").content.decode()
    assert "stopped at its time limit (65 minutes)" in page
    assert 'http-equiv="refresh"' not in page


@pytest.mark.django_db
def test_a_job_that_had_ended_is_left_as_it_was(tmp_path):
    job = confirmed_job(contacts_csv(tmp_path / "contacts.csv"), stage=Stage.DONE)

    tasks.run_contact_import.on_failure(TimeLimitExceeded(1), "task-id", (str(job.pk),), {}, None)

    job.refresh_from_db()
    assert job.stage == Stage.DONE and job.error == ""


def test_the_hard_limit_must_follow_the_soft_one(settings):
    assert "config.E020" not in [e.id for e in run_checks()]
    settings.IMPORT_TASK_TIME_LIMIT = settings.IMPORT_TASK_SOFT_TIME_LIMIT
    assert "config.E020" in [e.id for e in run_checks()]
