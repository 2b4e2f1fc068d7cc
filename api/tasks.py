from celery import shared_task

from .idempotency import purge_idempotency_records


@shared_task
def purge_expired_idempotency_records() -> int:
    return purge_idempotency_records()
