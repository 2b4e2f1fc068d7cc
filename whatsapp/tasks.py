from celery import shared_task

from .services import process_inbound_event, process_stragglers


@shared_task(acks_late=True)
def process_inbound_events(event_ids: list[int]) -> int:
    """Process stored webhook items; a failure stays on its row, ready to re-run."""
    return sum(process_inbound_event(event_id=pk) for pk in event_ids)


@shared_task
def process_straggling_inbound_events() -> int:
    """Safety net: rows stored but never enqueued (broker down at the time)."""
    return process_stragglers()
