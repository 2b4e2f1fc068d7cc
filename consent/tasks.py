from celery import shared_task

from . import seals, services


@shared_task
def expire_lapsed_legacy_consent() -> int:
    return services.expire_lapsed_legacy()


@shared_task
def expire_lapsed_call_permissions() -> int:
    return services.expire_lapsed_call_permissions()


@shared_task
def seal_ledger() -> str:
    return seals.seal_ledger().hash
