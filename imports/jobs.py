"""Imports from the admin: upload, check in the background, confirm once, import in the background.

The same engine as `manage.py import_contacts`. The worker writes its progress
through a connection of its own, so the page sees it while the import's own
transaction is still open; the uploaded file is deleted when the job ends.
"""

from __future__ import annotations

import logging
import tempfile
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, User
from django.core.files import File
from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from config.celery import registered_task
from consent.models import ReconsentPolicy
from staff.audit import record_audit

from . import sql
from .columns import shown
from .engine import Options, import_contacts
from .models import ContactImport
from .reading import ContactFile, UnreadableFile
from .rejected import write_rejected_rows
from .report import ImportReport

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)
Stage = ContactImport.Stage

# Rows shown on the check page besides every row with a problem.
PREVIEW_ROWS = 20


def start_import(
    *,
    upload: File,
    file_name: str,
    uploaded_by: User,
    policy: ReconsentPolicy | None = None,
    tag: str = "",
) -> ContactImport:
    """Keep the file and check it in the background (a dry run): nothing is imported yet."""
    job = ContactImport(file_name=file_name[:255], policy=policy, tag=tag, uploaded_by=uploaded_by)
    job.file.save(file_name[-100:], upload, save=False)
    job.save()
    transaction.on_commit(
        partial(registered_task("imports.tasks.check_contact_import").delay, str(job.pk))
    )
    return job


def confirm_import(
    *, job: ContactImport, confirmed_by: AbstractBaseUser, valid_rows_only: bool = False
) -> bool:
    """Queue the import of a checked file, all or nothing or its valid rows only; False
    when it was confirmed already or is not ready."""
    with transaction.atomic():
        claimed = ContactImport.objects.filter(pk=job.pk, stage=Stage.CHECKED).update(
            stage=Stage.QUEUED,
            valid_rows_only=valid_rows_only,
            confirmed_by=confirmed_by,
            confirmed_at=timezone.now(),
            phase="",
            done=0,
            total=None,
            updated_at=timezone.now(),
        )
        if claimed:
            record_audit(
                actor=confirmed_by,
                action="confirm_contact_import",
                obj=job,
                before={"stage": Stage.CHECKED.value},
                after={
                    "stage": Stage.QUEUED.value,
                    "file": job.file_name,
                    "valid_rows_only": valid_rows_only,
                },
            )
            transaction.on_commit(
                partial(registered_task("imports.tasks.run_contact_import").delay, str(job.pk))
            )
    return claimed == 1


def check_import(job_id: str) -> None:
    """The dry run: counts (of the rows that can be imported), problems by row and column,
    a preview of the rows, and the rejected rows as a file of their own."""
    job = ContactImport.objects.get(pk=job_id)
    if job.stage != Stage.CHECKING:
        return
    try:
        with _ProgressWriter(job) as progress:
            report = import_contacts(
                job.file.path,
                name=job.file_name,
                options=_options(job, dry_run=True),
                progress=progress,
            )
        preview = _preview(job, report)
        _keep_rejected(job, report)
    except SoftTimeLimitExceeded:
        _finish(job, Stage.FAILED, error=out_of_time(checking=True, seconds=_soft_limit()))
        return
    except Exception as exc:
        logger.exception("checking import %s failed", job.pk)
        _finish(job, Stage.FAILED, error=str(exc))
        return
    job.check_report = report.to_dict()
    job.preview = preview
    importable = report.ok and report.rows > report.rejected_rows
    _finish(job, Stage.CHECKED if importable else Stage.INVALID, keep_file=importable)


def run_import(job_id: str) -> None:
    """The import itself, once: the job is claimed from `queued` by one worker."""
    claimed = ContactImport.objects.filter(pk=job_id, stage=Stage.QUEUED).update(
        stage=Stage.RUNNING, updated_at=timezone.now()
    )
    if not claimed:
        return
    job = ContactImport.objects.select_related("confirmed_by").get(pk=job_id)
    try:
        with _ProgressWriter(job) as progress:
            report = import_contacts(
                job.file.path,
                name=job.file_name,
                options=_options(job, dry_run=False, actor=job.confirmed_by),
                progress=progress,
            )
        _keep_rejected(job, report)
    except SoftTimeLimitExceeded:
        error = out_of_time(checking=False, seconds=_soft_limit(), done=job.done)
        _finish(job, Stage.FAILED, error=error)
        return
    except Exception as exc:
        logger.exception("import %s failed", job.pk)
        _finish(job, Stage.FAILED, error=str(exc))
        return
    job.result = report.to_dict()
    _finish(job, Stage.DONE if report.ok else Stage.FAILED)


def out_of_time(*, checking: bool, seconds: int, done: int = 0) -> str:
    """Why a check or an import ended at its time limit, and what was kept."""
    limit = duration(seconds)
    if checking:
        return (
            f"The check stopped at its time limit ({limit}) before the end of the file; "
            "nothing was imported. Split the file, or ask for a longer limit "
            "(IMPORT_TASK_SOFT_TIME_LIMIT)."
        )
    if sql.is_postgres():
        return (
            f"The import stopped at its time limit ({limit}) and was undone: nothing was "
            "imported. Split the file, or ask for a longer limit (IMPORT_TASK_SOFT_TIME_LIMIT)."
        )
    # SQLite writes in short transactions, so beat and the worker keep their turns.
    return (
        f"The import stopped at its time limit ({limit}) part-way: about {done:,} rows were "
        "written. Importing the same file again completes it (nothing is added twice)."
    )


def _soft_limit() -> int:
    return settings.IMPORT_TASK_SOFT_TIME_LIMIT


def duration(seconds: int) -> str:
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count:,} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:,} second{'s' if seconds != 1 else ''}"


def fail_unfinished(job_id: str, *, timed_out: int | None = None, error: str = "") -> bool:
    """End a job whose task died without ending it (killed at the hard time limit, in
    seconds: `timed_out`); False when it had ended."""
    with transaction.atomic():
        job = (
            ContactImport.objects.select_for_update()
            .filter(pk=job_id, stage__in=[Stage.CHECKING, Stage.QUEUED, Stage.RUNNING])
            .first()
        )
        if job is None:
            return False
        if timed_out:
            error = out_of_time(
                checking=job.stage == Stage.CHECKING, seconds=timed_out, done=job.done
            )
        _finish(job, Stage.FAILED, error=error or "The worker stopped before the end.")
    return True


def _options(job: ContactImport, *, dry_run: bool, actor=None) -> Options:
    # One process: a Celery prefork child may not fork workers of its own, and the
    # worker's other tasks (webhooks, sends) need the cores too. The check counts what
    # the valid rows would do, and lists every rejected one.
    return Options(
        dry_run=dry_run,
        policy=job.policy,
        tag=job.tag,
        actor=actor,
        workers=1,
        valid_rows_only=dry_run or job.valid_rows_only,
    )


def _keep_rejected(job: ContactImport, report: ImportReport) -> None:
    """The rejected rows, as uploaded, with the reasons: a CSV file kept with the job."""
    rejected = report.errors.by_row or {}
    if not rejected or report.refused_as_a_whole:
        return
    name = f"{job.pk}-rejected.csv"
    with tempfile.TemporaryFile("w+b") as spool:
        write_rejected_rows(job.file.path, job.file_name, rejected, spool)
        spool.seek(0)
        if job.rejected_file:
            job.rejected_file.delete(save=False)
        job.rejected_file.save(name, File(spool), save=False)


def _finish(job: ContactImport, stage: str, *, error: str = "", keep_file: bool = False) -> None:
    job.stage = stage
    job.error = error[:2000]
    job.finished_at = timezone.now() if stage != Stage.CHECKED else None
    job.updated_at = timezone.now()
    if not keep_file and job.file:
        job.file.delete(save=False)
    job.save()


def _preview(job: ContactImport, report) -> dict[str, Any]:
    """The header, the first rows and every row with a problem (as far as the report names them)."""
    problems: dict[int, list[dict[str, str]]] = {}
    for problem in report.errors.shown():
        problems.setdefault(problem.row, []).append(
            {"column": problem.column, "message": problem.message}
        )
    header: list[str] = []
    rows: list[dict[str, Any]] = []
    try:
        source = ContactFile(job.file.path, name=job.file_name)
        for number, cells in source.rows():
            # Shown as text: a NUL or lone surrogate cannot be stored, even in the preview.
            texts = ["" if cell is None else shown(str(cell)) for cell in cells]
            if not header:
                header = texts
                continue
            if number <= PREVIEW_ROWS + 1 or number in problems:
                rows.append({"row": number, "cells": texts, "problems": problems.get(number, [])})
            elif len(rows) >= PREVIEW_ROWS and number > max(problems, default=0):
                break
    except UnreadableFile:
        pass
    file_problems = problems.get(0, []) + problems.get(1, [])
    return {"header": header, "rows": rows, "file_problems": file_problems}


class _ProgressWriter:
    """Writes progress a few times a second through a connection of its own.

    The import runs in one transaction on PostgreSQL: an update through the
    import's connection would stay invisible (and hold the row) until it ends.
    """

    def __init__(self, job: ContactImport) -> None:
        self.job = job
        self.connection: BaseDatabaseWrapper | None = None
        self.last = 0.0

    def __enter__(self):
        self.connection = connections.create_connection("default")
        return self

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.last < 0.5 and phase == self.job.phase:
            return
        self.last = now
        self.job.phase, self.job.done, self.job.total = phase, done, total
        if self.connection is None:
            return
        try:
            sql.write_job_progress(self.connection, self.job.pk, phase, done, total, timezone.now())
        except DatabaseError:
            # Progress is for the page only; the import goes on without it (an
            # in-memory test database, for one, has no second connection).
            logger.warning("import %s: progress not written", self.job.pk, exc_info=True)
            self.connection.close()
            self.connection = None

    def __exit__(self, *exc: object) -> None:
        if self.connection is not None:
            self.connection.close()
