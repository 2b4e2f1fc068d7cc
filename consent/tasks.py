from celery import shared_task

from . import services


@shared_task
def expire_lapsed_legacy_consent() -> int:
    return services.expire_lapsed_legacy()
