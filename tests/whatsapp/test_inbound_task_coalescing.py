"""A burst of webhook requests sends one task at once and one a second later, not a
message per request; every stored item is still processed about a second after its
commit. (What the broker is sent, counted where the process hands it over.)"""

import math
from types import SimpleNamespace

import pytest
from django.utils import timezone

from config.celery import app
from consent.models import ConsentEvent
from tests.whatsapp.helpers import post_webhook, with_message
from whatsapp import tasks
from whatsapp.models import InboundEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker(monkeypatch):
    """The messages sent, as (task name, args, countdown); a clock this test moves."""
    sent: list[tuple[str, tuple, float | None]] = []
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    for task in (tasks.process_inbound_events, tasks.process_received_inbound_events):
        monkeypatch.setattr(
            task,
            "apply_async",
            lambda args, countdown=None, name=task.name: sent.append((name, args, countdown)),
        )
    monkeypatch.setattr(tasks, "time", SimpleNamespace(monotonic=lambda: clock.now))
    monkeypatch.setattr(tasks, "_window", {"sent_at": -math.inf, "covered_until": -math.inf})
    return SimpleNamespace(sent=sent, clock=clock)


NAMED = "whatsapp.tasks.process_inbound_events"
WAITING = "whatsapp.tasks.process_received_inbound_events"


def test_the_first_request_of_a_quiet_spell_sends_its_items_at_once(broker):
    tasks.process_inbound_soon([7, 8])

    assert broker.sent == [(NAMED, ([7, 8],), None)]


def test_a_burst_shares_one_task_that_starts_after_its_last_commit(broker):
    tasks.process_inbound_soon([1])
    for pk in range(2, 52):
        broker.clock.now += 0.01
        tasks.process_inbound_soon([pk])

    assert broker.sent == [(NAMED, ([1],), None), (WAITING, (), tasks.INBOUND_COALESCE_SECONDS)]
    # The second task starts a whole window after it was sent: after every commit above.
    assert tasks.INBOUND_COALESCE_SECONDS > 50 * 0.01


def test_a_request_after_the_covering_task_has_started_gets_a_task_of_its_own(broker):
    tasks.process_inbound_soon([1])
    broker.clock.now += 0.1
    tasks.process_inbound_soon([2])  # covered until now + the window
    broker.clock.now += tasks.INBOUND_COALESCE_SECONDS + 0.1
    tasks.process_inbound_soon([3])

    assert broker.sent == [
        (NAMED, ([1],), None),
        (WAITING, (), tasks.INBOUND_COALESCE_SECONDS),
        (NAMED, ([3],), None),
    ]


def test_with_eager_tasks_every_request_processes_its_items_now(monkeypatch, broker):
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    for pk in range(3):
        tasks.process_inbound_soon([pk])

    assert broker.sent == [(NAMED, ([pk],), None) for pk in range(3)]


def test_a_stop_no_task_named_is_processed_by_the_covering_task(
    client, ada, notices, django_capture_on_commit_callbacks, broker
):
    tasks.process_inbound_soon([0])  # another request of this process, just before
    broker.clock.now += 0.1
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(client, with_message("text_stop", at=timezone.now()))

    assert [name for name, _, _ in broker.sent] == [NAMED, WAITING]
    assert InboundEvent.objects.get().state == InboundEvent.State.RECEIVED

    assert tasks.process_received_inbound_events() == 1
    assert InboundEvent.objects.get().state == InboundEvent.State.PROCESSED
    assert ConsentEvent.objects.count() == 1
