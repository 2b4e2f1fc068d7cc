from celery import shared_task

from . import pending, seals, services


@shared_task
def expire_lapsed_legacy_consent() -> int:
    return services.expire_lapsed_legacy()


@shared_task
def expire_stale_opt_in_requests() -> int:
    return pending.expire_stale_requests()


@shared_task
def seal_ledger() -> str:
    return seals.seal_ledger().hash
