"""`make run` on the embedded default survives a long import: beat and a worker keep running.

An import on SQLite (a real file, WAL) while Celery beat sends a task every
second (and writes its bookkeeping) and a worker runs them. Nothing may die with
"database is locked". The suite imports 4,000 rows (about 2–3 minutes: the
SQLite row path runs at ~30 rows/s beside beat and a worker); the issue's
20,000 rows take ~14 minutes and run with IMPORT_SURVIVAL_ROWS=20000.
"""

import csv
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tests.whatsapp.workers import wait_until

ROOT = Path(__file__).resolve().parents[2]
ROWS = int(os.environ.get("IMPORT_SURVIVAL_ROWS", "4000"))

pytestmark = [pytest.mark.worker]


def _write_file(path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["phone", "name", "marketing_status", "marketing_date"])
        for i in range(ROWS):
            writer.writerow([f"+4474{i:08d}", f"Person {i}", "legacy", "2023-05-01"])


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_a_long_import_while_beat_and_a_worker_run(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "tests.importing.embedded_settings",
        "EMBEDDED_TEST_BROKER_DIR": str(tmp_path / "broker"),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "PYTHONPATH": str(ROOT),
    }
    python = [sys.executable]
    subprocess.run(
        [*python, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    from django.utils import timezone

    deadline = (timezone.now() + timedelta(days=60)).isoformat()
    subprocess.run(
        [
            *python,
            "manage.py",
            "shell",
            "-c",
            "from consent.models import ReconsentPolicy; "
            f"ReconsentPolicy.objects.create(name='grace', deadline='{deadline}', active=True)",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    source = tmp_path / "contacts.csv"
    _write_file(source)
    celery = [*python, "-m", "celery", "-A", "config"]
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("worker", "beat")}  # noqa: SIM115
    worker = subprocess.Popen(
        [*celery, "worker", "--concurrency=2", "--loglevel=INFO", "--without-heartbeat"],
        cwd=ROOT,
        env=env,
        stdout=logs["worker"],
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    beat = subprocess.Popen(
        [*celery, "beat", "--loglevel=INFO", f"--schedule={tmp_path / 'beat-schedule'}"],
        cwd=ROOT,
        env=env,
        stdout=logs["beat"],
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        up = wait_until(
            lambda: (
                " ready." in (tmp_path / "worker.log").read_text()
                and "beat: Starting" in (tmp_path / "beat.log").read_text()
            ),
            timeout=90,
        )
        assert up and worker.poll() is None and beat.poll() is None, (
            "beat or the worker did not start"
        )

        started = time.monotonic()
        imported = subprocess.run(
            [*python, "manage.py", "import_contacts", str(source), "--workers", "1"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        took = time.monotonic() - started
        time.sleep(3)

        assert imported.returncode == 0, imported.stderr[-3000:]
        assert f"imported {ROWS:,} rows: {ROWS:,} new contacts" in imported.stdout
        assert worker.poll() is None, "the worker died during the import"
        assert beat.poll() is None, "beat died during the import"
    finally:
        for process in (beat, worker):
            _stop(process)
        for log in logs.values():
            log.close()
    beat_log = (tmp_path / "beat.log").read_text()
    worker_log = (tmp_path / "worker.log").read_text()
    assert "database is locked" not in beat_log + worker_log
    # Beat kept sending while the import ran (a task a second), and the worker kept running them.
    assert beat_log.count("Scheduler: Sending due task") >= took / 2
    assert worker_log.count("succeeded in") >= took / 2
