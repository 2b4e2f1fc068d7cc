"""The `files` queue's tasks: checking and importing contact files, writing exports.

Each runs past the limits made for short tasks, up to its own
(settings.IMPORT_TASK_*), and a job never stays "running" after its task has died.
"""

from collections.abc import Callable
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from django.conf import settings

from . import export_jobs, jobs


class _FileTask(Task):
    """At the soft limit the job ends itself; at the hard limit the worker kills the process,
    and Celery calls `on_failure` in the worker's main process, which ends the job."""

    abstract = True
    # The job's own way to end unfinished: jobs.fail_unfinished or export_jobs.fail_unfinished.
    fail_unfinished: Callable[..., bool]

    def end_job(self, job_id: str, *, timed_out: int | None = None, error: str = "") -> None:
        type(self).fail_unfinished(job_id, timed_out=timed_out, error=error)

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        job_id = args[0] if args else kwargs.get("job_id")
        if not job_id:
            return
        if isinstance(exc, TimeLimitExceeded):
            self.end_job(str(job_id), timed_out=settings.IMPORT_TASK_TIME_LIMIT)
        elif isinstance(exc, SoftTimeLimitExceeded):
            self.end_job(str(job_id), timed_out=settings.IMPORT_TASK_SOFT_TIME_LIMIT)
        else:
            self.end_job(str(job_id), error=f"The worker stopped: {exc}")


class ImportTask(_FileTask):
    fail_unfinished = staticmethod(jobs.fail_unfinished)


class ExportTask(_FileTask):
    fail_unfinished = staticmethod(export_jobs.fail_unfinished)


LIMITS = {
    "time_limit": settings.IMPORT_TASK_TIME_LIMIT,
    "soft_time_limit": settings.IMPORT_TASK_SOFT_TIME_LIMIT,
}


@shared_task(base=ImportTask, **LIMITS)
def check_contact_import(job_id: str) -> None:
    jobs.check_import(job_id)


@shared_task(base=ImportTask, **LIMITS)
def run_contact_import(job_id: str) -> None:
    jobs.run_import(job_id)


@shared_task(base=ExportTask, **LIMITS)
def run_export(job_id: str) -> None:
    export_jobs.run_export(job_id)


@shared_task
def expire_old_exports() -> int:
    return export_jobs.expire_old_exports()
