from celery import shared_task

from . import pending, seals, services
from .importing import jobs


@shared_task
def expire_lapsed_legacy_consent() -> int:
    return services.expire_lapsed_legacy()


@shared_task
def expire_stale_opt_in_requests() -> int:
    return pending.expire_stale_requests()


@shared_task
def seal_ledger() -> str:
    return seals.seal_ledger().hash


# An import runs as long as its file needs (a million rows: minutes), past the
# default limits made for short tasks.
IMPORT_LIMITS = {"time_limit": 3 * 60 * 60, "soft_time_limit": 3 * 60 * 60 - 60}


@shared_task(**IMPORT_LIMITS)
def check_contact_import(job_id: str) -> None:
    jobs.check_import(job_id)


@shared_task(**IMPORT_LIMITS)
def run_contact_import(job_id: str) -> None:
    jobs.run_import(job_id)
