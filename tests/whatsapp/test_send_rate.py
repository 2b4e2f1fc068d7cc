"""Throughput per sending number holds across workers: two of them, one number at 50/s.

A behaviour test, not a benchmark: it only checks that the fake Graph API never sees
more than the number's rate, allowing for the bucket's burst (a tenth of a second)
and for the edges of the one-second windows. It never asserts how fast sending is.
"""

from __future__ import annotations

import pytest

from tests.whatsapp.test_outbox_worker import queue_messages, settled
from tests.whatsapp.workers import wait_until
from whatsapp import throttle
from whatsapp.models import OutboundMessage

pytestmark = [
    pytest.mark.worker,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

RATE = 50
WINDOW_SECONDS = 10


def test_two_workers_never_exceed_the_numbers_rate(worker_graph, workers):
    # given more messages than one 10-second window holds at 50/s
    rows = queue_messages(RATE * (WINDOW_SECONDS + 2))

    # when two workers share them, with the number's rate at 50/s
    both = [workers(WHATSAPP_MESSAGES_PER_SECOND=str(RATE)) for _ in range(2)]
    assert wait_until(lambda: settled(rows), timeout=180, every=1)

    # then the server saw every message once, never faster than the rate
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {"accepted"}
    accepted = worker_graph.accepted()
    assert len(accepted) == len(rows) and set(accepted.values()) == {1}
    per_second = worker_graph.accepted_per_second()
    seconds = sorted(per_second)
    burst = throttle.capacity(RATE)
    # whole seconds (not the first or the last, which are partly empty)
    for second in seconds[1:-1]:
        assert per_second[second] <= RATE + burst, (second, per_second[second])
    # every 10-second window
    for start in seconds:
        window = sum(per_second.get(start + k, 0) for k in range(WINDOW_SECONDS))
        assert window <= RATE * WINDOW_SECONDS + burst, (start, window)
    # and both workers sent (two processes, one bucket)
    for worker in both:
        assert any("deliver_outbound" in line and "succeeded" in line for line in worker.log)
