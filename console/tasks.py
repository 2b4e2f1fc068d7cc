from celery import shared_task

from .services import compact_state_tallies, refresh_dashboard_snapshot


@shared_task
def refresh_dashboard() -> None:
    refresh_dashboard_snapshot()


@shared_task
def compact_tallies() -> None:
    compact_state_tallies()
