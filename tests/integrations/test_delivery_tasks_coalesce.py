"""A burst of consents owed to an endpoint sends its worker one task at once and one after
the burst, not a message per consent; each change is still covered by a task that starts
after its commit. (What the broker is sent, counted where the process hands it over.)"""

from types import SimpleNamespace

import pytest

from config.celery import app
from integrations import tasks

ENDPOINT = "5b0b6c2e-1b7e-4d0a-9b51-8f3c1f1f0a01"


@pytest.fixture
def broker(monkeypatch):
    """The messages sent, as (endpoint, countdown); a clock this test moves."""
    sent: list[tuple[str, float | None]] = []
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    monkeypatch.setattr(
        tasks.deliver_to_endpoint,
        "apply_async",
        lambda args, countdown=None: sent.append((args[0], countdown)),
    )
    monkeypatch.setattr(tasks, "time", SimpleNamespace(monotonic=lambda: clock.now))
    monkeypatch.setattr(tasks, "_sent_at", {})
    monkeypatch.setattr(tasks, "_covered_until", {})
    return SimpleNamespace(sent=sent, clock=clock)


def test_the_first_change_of_a_quiet_spell_is_sent_at_once(broker):
    tasks.enqueue_deliveries_soon([ENDPOINT])

    assert broker.sent == [(ENDPOINT, None)]


def test_a_burst_shares_one_task_that_starts_after_its_last_commit(broker):
    tasks.enqueue_deliveries_soon([ENDPOINT])
    for _ in range(50):
        broker.clock.now += 0.01
        tasks.enqueue_deliveries_soon([ENDPOINT])

    assert broker.sent == [(ENDPOINT, None), (ENDPOINT, tasks.COALESCE_SECONDS)]
    # The second task starts a whole window after it was sent: after every commit above.
    assert tasks.COALESCE_SECONDS > 50 * 0.01


def test_a_change_after_the_covering_task_has_started_gets_a_task_of_its_own(broker):
    tasks.enqueue_deliveries_soon([ENDPOINT])
    broker.clock.now += 0.1
    tasks.enqueue_deliveries_soon([ENDPOINT])  # covered until now + the window
    broker.clock.now += tasks.COALESCE_SECONDS + 0.1
    tasks.enqueue_deliveries_soon([ENDPOINT])

    assert broker.sent == [
        (ENDPOINT, None),
        (ENDPOINT, tasks.COALESCE_SECONDS),
        (ENDPOINT, None),
    ]


def test_with_eager_tasks_every_change_runs_its_delivery_now(monkeypatch, broker):
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    for _ in range(3):
        tasks.enqueue_deliveries_soon([ENDPOINT])

    assert broker.sent == [(ENDPOINT, None)] * 3
