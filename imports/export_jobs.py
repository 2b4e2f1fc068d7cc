"""Exports as jobs: asked for in the admin, written by a worker on the `files` queue,
downloaded by the staff user who asked.

The rows are read in chunks (a server-side cursor on PostgreSQL) and written as
they come to a file in EXPORT_FILE_DIR, so a million contacts never sit in memory
and no web request waits for them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from config.celery import registered_task
from contacts.models import Contact
from staff.audit import record_audit

from .exports import CHUNK, contact_rows, ledger_events, ledger_rows, write_csv, write_xlsx
from .jobs import duration
from .models import ExportJob
from .selection import contacts_from_filters

logger = logging.getLogger(__name__)
Status = ExportJob.Status
# How often (in rows) the job's progress is written for its page.
PROGRESS_EVERY = CHUNK


def start_export(
    *,
    requested_by: User,
    kind: str,
    file_format: str,
    style: str,
    selection: dict[str, Any],
    description: str,
) -> ExportJob:
    """Queue an export on the `files` queue; the file is written by a worker. Who asked
    for which people's data is in the staff audit log."""
    with transaction.atomic():
        job = ExportJob.objects.create(
            requested_by=requested_by,
            kind=kind,
            file_format=file_format,
            style=style,
            selection=selection,
            description=description[:255],
        )
        record_audit(
            actor=requested_by,
            action=f"export_{kind}",
            obj=job,
            after={"what": job.description, "format": file_format, "style": style},
        )
        transaction.on_commit(
            partial(registered_task("imports.tasks.run_export").delay, str(job.pk))
        )
    return job


def ledger_period(start: date, end: date) -> tuple[datetime, datetime]:
    """[start, end] as whole days in the site's time zone: [start 00:00, the day after end)."""
    zone = timezone.get_default_timezone()
    return (
        datetime.combine(start, time(), tzinfo=zone),
        datetime.combine(end + timedelta(days=1), time(), tzinfo=zone),
    )


def chosen_contacts(job: ExportJob) -> QuerySet[Contact] | None:
    """The contacts a job exports: the ids selected, the list as filtered, or None (all)."""
    selection = job.selection or {}
    if "ids" in selection:
        return Contact.objects.filter(pk__in=selection["ids"])
    if "filters" in selection:
        return contacts_from_filters(selection["filters"], job.requested_by)
    return None


def _rows(job: ExportJob) -> tuple[Iterator[list[Any]], int]:
    """(header and rows, how many rows) for a job."""
    if job.kind == ExportJob.Kind.LEDGER:
        start, end = ledger_period(
            date.fromisoformat(job.selection["start"]), date.fromisoformat(job.selection["end"])
        )
        return ledger_rows(start, end, style=job.style), ledger_events(start, end).count()
    selected = chosen_contacts(job)
    total = (selected if selected is not None else Contact.objects.all()).count()
    in_list_order = "filters" in (job.selection or {})
    return contact_rows(selected, style=job.style, in_list_order=in_list_order), total


def file_name(job: ExportJob) -> str:
    stamp = timezone.localtime(job.created_at).strftime("%Y%m%d-%H%M")
    if job.kind == ExportJob.Kind.LEDGER:
        start, end = (job.selection[key].replace("-", "") for key in ("start", "end"))
        base = f"ledger-{start}-{end}"
    else:
        base = "contacts"
    return f"{base}-{stamp}.{job.file_format}"


def run_export(job_id: str) -> None:
    """Write the file, once: the job is claimed from `queued` by one worker."""
    claimed = ExportJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=timezone.now(), updated_at=timezone.now()
    )
    if not claimed:
        return
    job = ExportJob.objects.select_related("requested_by").get(pk=job_id)
    name = file_name(job)
    relative = f"{timezone.now():%Y/%m}/{job.pk}/{name}"
    path = Path(job.file.storage.path(relative))
    try:
        rows, total = _rows(job)
        ExportJob.objects.filter(pk=job.pk).update(total=total, updated_at=timezone.now())
        path.parent.mkdir(parents=True, exist_ok=True)
        counted = _Counted(job, rows)
        if job.file_format == ExportJob.Format.XLSX:
            write_xlsx(counted, str(path), title="ledger" if job.kind == "ledger" else "contacts")
        else:
            with open(path, "w", encoding="utf-8", newline="") as out:
                write_csv(counted, out)
    except SoftTimeLimitExceeded:
        path.unlink(missing_ok=True)
        _finish(job, Status.FAILED, error=out_of_time(settings.IMPORT_TASK_SOFT_TIME_LIMIT))
        return
    except Exception as exc:
        logger.exception("export %s failed", job.pk)
        path.unlink(missing_ok=True)
        _finish(job, Status.FAILED, error=f"The export failed: {exc}")
        return
    job.file.name = relative
    job.file_name = name
    job.rows = job.done = counted.rows
    _finish(job, Status.DONE)


class _Counted(Iterable[list[Any]]):
    """The rows as they pass to the writer, counted, with the count written for the page."""

    def __init__(self, job: ExportJob, rows: Iterator[list[Any]]) -> None:
        self.job = job
        self.source = rows
        self.rows = 0

    def __iter__(self) -> Iterator[list[Any]]:
        yield next(self.source)  # the header
        for row in self.source:
            self.rows += 1
            if self.rows % PROGRESS_EVERY == 0:
                ExportJob.objects.filter(pk=self.job.pk).update(
                    done=self.rows, updated_at=timezone.now()
                )
            yield row


def out_of_time(seconds: int) -> str:
    return (
        f"The export stopped at its time limit ({duration(seconds)}) before it was written "
        "whole; no file was kept. Export a smaller selection or period, or ask for a longer "
        "limit (IMPORT_TASK_SOFT_TIME_LIMIT)."
    )


def fail_unfinished(job_id: str, *, timed_out: int | None = None, error: str = "") -> bool:
    """End a job whose task died without ending it (killed at the hard time limit, in
    seconds: `timed_out`); False when it had ended."""
    with transaction.atomic():
        job = (
            ExportJob.objects.select_for_update()
            .filter(pk=job_id, status__in=[Status.QUEUED, Status.RUNNING])
            .first()
        )
        if job is None:
            return False
        if timed_out:
            error = out_of_time(timed_out)
        _finish(job, Status.FAILED, error=error or "The worker stopped before the end.")
    return True


def _finish(job: ExportJob, status: str, *, error: str = "") -> None:
    job.status = status
    job.error = error[:2000]
    job.finished_at = job.updated_at = timezone.now()
    job.save()


def expire_old_exports(*, now: datetime | None = None) -> int:
    """Delete the files of exports finished more than EXPORT_RETENTION_DAYS ago; each job
    stays, "expired". A file already gone counts as deleted. Returns how many expired."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.EXPORT_RETENTION_DAYS)
    old = ExportJob.objects.filter(status=Status.DONE, finished_at__lt=cutoff)
    expired = 0
    for job in old.only("pk", "file").iterator(chunk_size=CHUNK):
        if job.file:
            job.file.delete(save=False)
        expired += ExportJob.objects.filter(pk=job.pk, status=Status.DONE).update(
            status=Status.EXPIRED, file="", expired_at=now, updated_at=now
        )
    return expired


def may_download(job: ExportJob, user: Any) -> bool:
    """Only the person who asked, and for the ledger only while they may still export proof."""
    if job.requested_by_id != user.pk or job.status != Status.DONE or not job.file:
        return False
    if job.kind == ExportJob.Kind.LEDGER:
        return user.has_perm("consent.export_proof")
    return user.has_perm("contacts.view_contact")
