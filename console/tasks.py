from celery import shared_task

from .services import compact_state_tallies


@shared_task
def compact_tallies() -> None:
    compact_state_tallies()
