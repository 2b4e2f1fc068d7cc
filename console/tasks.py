from celery import shared_task

from .services import refresh_dashboard_snapshot


@shared_task
def refresh_dashboard() -> None:
    refresh_dashboard_snapshot()
