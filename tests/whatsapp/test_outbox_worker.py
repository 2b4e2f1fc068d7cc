"""The outbox under faults, with real Celery workers on Redis and a fake Graph API over HTTP.

Whatever happens — a worker killed mid-call, a handler raising after the decision, the
platform failing one message or rate-limiting for a while — what the fake server
received must show: every message at most once; every message whose fate we know
exactly once; the rest `unknown`, and listed for staff.

The workers are separate processes sharing this run's database, so these tests need
PostgreSQL (CI runs them) and Redis (databases 12 for the broker, 10 for the buckets).
"""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import transaction
from django.utils import timezone

from tests.factories import ContactFactory
from tests.whatsapp.fake_graph import FakeGraph
from tests.whatsapp.workers import wait_until
from whatsapp import outbox
from whatsapp.addressing import whatsapp_address
from whatsapp.models import OutboundMessage
from whatsapp.tasks import sweep_outbox

pytestmark = [
    pytest.mark.worker,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

Status = OutboundMessage.Status


def queue_messages(n: int) -> list[OutboundMessage]:
    """n template messages to n people, decided in one committed transaction."""
    contacts = [ContactFactory() for _ in range(n)]
    with transaction.atomic():
        rows = [
            outbox.enqueue_template(
                address=whatsapp_address(phone=c.phone, wa_id=c.wa_id),
                name="hello",
                language="en",
                contact_id=c.pk,
            )
            for c in contacts
        ]
    return rows


def settled(rows) -> bool:
    pks = [r.pk for r in rows]
    return not OutboundMessage.objects.filter(
        pk__in=pks, status__in=[Status.QUEUED, Status.SENDING]
    ).exists()


def assert_at_most_once(graph: FakeGraph, *, unknown_expected: int = 0) -> list[OutboundMessage]:
    """What the server received against what the outbox says; returns the unknown rows."""
    accepted = graph.accepted()
    assert all(n <= 1 for n in accepted.values()), f"sent twice: {accepted}"
    rows = list(OutboundMessage.objects.filter(kind__in=["text", "buttons", "template"]))
    for row in rows:
        ref = str(row.pk)
        if row.status == Status.ACCEPTED:
            assert accepted[ref] == 1, f"{ref} accepted here, {accepted[ref]} times there"
        elif row.status in (Status.FAILED, Status.SKIPPED):
            assert accepted[ref] == 0, f"{ref} {row.status} here, accepted there"
    unknown = [row for row in rows if row.status == Status.UNKNOWN]
    assert len(unknown) == unknown_expected, Counter(r.status for r in rows)
    assert {r.pk for r in unknown} == set(
        OutboundMessage.objects.filter(status=Status.UNKNOWN).values_list("pk", flat=True)
    )
    return unknown


def test_a_worker_killed_mid_delivery_leaves_one_unknown_and_the_rest_exactly_once(
    worker_graph, workers, settings
):
    # given six messages, and a platform that hangs on the third
    settings.WHATSAPP_SENDING_TIMEOUT = 3
    settings.WHATSAPP_OUTBOX_REQUEUE_AFTER = 1
    rows = queue_messages(6)
    third = str(rows[2].pk)
    hang = worker_graph.when(lambda call: call.ref == third, ("hang", 20))

    # when the worker is killed while it waits for that answer, and another takes over
    first = workers(WHATSAPP_HTTP_TIMEOUT="30")
    assert hang.seen.wait(60), "the third message never reached the server"
    first.kill()
    wait_until(
        lambda: OutboundMessage.objects.filter(
            status=Status.SENDING, claimed_at__lt=timezone.now() - timezone.timedelta(seconds=3)
        ).exists(),
        timeout=15,
    )
    sweep_outbox()  # the beat task: sending too long → unknown; queued and untaken → again
    workers()
    assert wait_until(lambda: settled(rows), timeout=90)

    # then the third is unknown, listed and never repeated; the others went exactly once
    [unknown] = assert_at_most_once(worker_graph, unknown_expected=1)
    assert str(unknown.pk) == third
    assert worker_graph.received()[third] == 1
    assert OutboundMessage.objects.filter(status=Status.ACCEPTED).count() == 5


def test_a_handler_raising_after_the_decision_sends_nothing_until_it_is_processed_again(
    worker_graph, workers, client, extra_handlers, notices
):
    from consent.models import ConsentState
    from tests.consent_helpers import record
    from tests.whatsapp.helpers import post_webhook, with_message
    from whatsapp.models import InboundEvent
    from whatsapp.services import process_inbound_event

    ada = ContactFactory(phone="+447911123456", wa_id="447911123456", name="Ada")
    record(ada, "grant", at=timezone.now() - timezone.timedelta(days=1))
    broken = {"yes": True}

    @extra_handlers("message")
    def later_handler(event):
        if broken["yes"]:
            raise RuntimeError("a later handler fails")

    # when a STOP arrives (stored; processed here, where the later handler fails): the
    # opt-out and its confirmation are decided, then rolled back with everything else
    post_webhook(client, with_message("text_stop", at=timezone.now()))
    event = InboundEvent.objects.get()
    assert not process_inbound_event(event_id=event.pk)
    assert not OutboundMessage.objects.exists()
    assert ConsentState.objects.get(contact=ada, purpose="marketing").status == "opted_in"

    # once fixed and processed again, the confirmation leaves exactly once
    broken["yes"] = False
    assert process_inbound_event(event_id=event.pk, retry_failed=True)
    workers()
    assert wait_until(lambda: settled(OutboundMessage.objects.all()), timeout=60)
    assert process_inbound_event(event_id=event.pk, retry_failed=True) is False

    [reply] = OutboundMessage.objects.all()
    assert reply.status == Status.ACCEPTED
    assert "no longer receive offers" in reply.payload["text"]["body"]
    assert_at_most_once(worker_graph)
    assert len(worker_graph.message_calls()) == 1


@pytest.mark.parametrize(
    ("second_answers", "second_status"),
    [
        ([("status", 500, {"error": {"message": "Internal", "code": 1}}, {})], "sent"),
        (
            [("status", 400, {"error": {"message": "Not on WhatsApp", "code": 131026}}, {})],
            "failed",
        ),
    ],
    ids=["a-5xx-is-retried", "a-permanent-error-fails-it"],
)
def test_failing_the_second_message_of_a_campaign_still_finishes_it(
    worker_graph, workers, second_answers, second_status
):
    from campaigns.models import Campaign, CampaignStatus, Message
    from campaigns.services import launch_campaign
    from tests.campaigns.conftest import make_contact

    contacts = [make_contact("opted_in") for _ in range(4)]
    second = contacts[1].wa_id
    worker_graph.when(lambda call: call.body.get("to") == second, *second_answers)
    campaign = Campaign.objects.create(
        name="Winter sale", kind="marketing", purpose="marketing", template_name="winter_sale"
    )
    workers()

    launch_campaign(campaign=campaign)

    assert wait_until(
        lambda: Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DONE, timeout=90
    )
    statuses = [Message.objects.get(campaign=campaign, contact=c).status for c in contacts]
    assert statuses == ["sent", second_status, "sent", "sent"]
    assert_at_most_once(worker_graph)
    assert sum(worker_graph.accepted().values()) == (4 if second_status == "sent" else 3)


def test_429_for_a_while_delays_every_message_and_repeats_none(worker_graph, workers):
    # given a worker, and a platform that answers 429 (Retry-After: 1) for three seconds
    workers()
    worker_graph.rate_limit_for(3, retry_after=1)

    # when eight messages are decided
    rows = queue_messages(8)

    # then each is accepted once, after the platform let us
    assert wait_until(lambda: settled(rows), timeout=120)
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {Status.ACCEPTED}
    assert_at_most_once(worker_graph)
    refused = [c for c in worker_graph.message_calls() if c.outcome == "status 429"]
    assert refused, "the platform's 429 was never hit"
    assert sum(worker_graph.accepted().values()) == 8
