from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from django.conf import settings

from . import seals, services
from .importing import jobs


@shared_task
def expire_lapsed_legacy_consent() -> int:
    return services.expire_lapsed_legacy()


@shared_task
def seal_ledger() -> str:
    return seals.seal_ledger().hash


class ImportTask(Task):
    """A check or an import: a job never stays "running" after its task has died.

    At the soft limit the job ends itself (consent.importing.jobs); at the hard limit
    the worker kills the process, and Celery calls this in the worker's main process.
    """

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        job_id = args[0] if args else kwargs.get("job_id")
        if not job_id:
            return
        if isinstance(exc, TimeLimitExceeded):
            jobs.fail_unfinished(str(job_id), timed_out=settings.IMPORT_TASK_TIME_LIMIT)
        elif isinstance(exc, SoftTimeLimitExceeded):
            jobs.fail_unfinished(str(job_id), timed_out=settings.IMPORT_TASK_SOFT_TIME_LIMIT)
        else:
            jobs.fail_unfinished(str(job_id), error=f"The worker stopped: {exc}")


# Files are checked and imported past the default limits made for short tasks, up to
# their own (settings.IMPORT_TASK_*).
IMPORT_LIMITS = {
    "base": ImportTask,
    "time_limit": settings.IMPORT_TASK_TIME_LIMIT,
    "soft_time_limit": settings.IMPORT_TASK_SOFT_TIME_LIMIT,
}


@shared_task(**IMPORT_LIMITS)
def check_contact_import(job_id: str) -> None:
    jobs.check_import(job_id)


@shared_task(**IMPORT_LIMITS)
def run_contact_import(job_id: str) -> None:
    jobs.run_import(job_id)
