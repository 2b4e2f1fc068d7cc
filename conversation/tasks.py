from celery import shared_task

from . import pending


# Named as before the conversation had an app of its own: beat and queued tasks keep it.
@shared_task(name="consent.tasks.expire_stale_opt_in_requests")
def expire_stale_opt_in_requests() -> int:
    return pending.expire_stale_requests()
