"""Races closed by the database: one launch wins, and two workers never send one message twice."""

import threading

import pytest
from django.db import connection, connections

from campaigns import tasks
from campaigns.exceptions import CampaignNotDraft
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.services import fan_out_campaign, launch_campaign, send_campaign_batch
from tests.campaigns.conftest import make_contact, sent_to
from whatsapp.models import OutboundMessage

WORKERS = 4

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent claims need PostgreSQL's row locking (CI runs this)")


def race(target, *args) -> list[BaseException | object]:
    """Run `target` in WORKERS threads at once; each result or exception, in any order."""
    start = threading.Barrier(WORKERS)
    outcomes: list[BaseException | object] = []

    def run() -> None:
        try:
            start.wait()
            outcomes.append(target(*args))
        except BaseException as exc:  # compared below
            outcomes.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_of_concurrent_launches_exactly_one_wins(campaign, monkeypatch):
    fan_outs = []
    monkeypatch.setattr(tasks.fan_out_campaign, "delay", fan_outs.append)

    outcomes = race(lambda: launch_campaign(campaign=Campaign.objects.get(pk=campaign.pk)))

    refused = [o for o in outcomes if isinstance(o, CampaignNotDraft)]
    assert len(refused) == WORKERS - 1
    assert fan_outs == [str(campaign.pk)]


def test_workers_racing_on_one_batch_send_each_message_once(campaign, whatsapp, monkeypatch):
    # given a fanned-out campaign whose batch was delivered to several workers
    contacts = [make_contact("opted_in") for _ in range(10)]
    monkeypatch.setattr(tasks.send_campaign_batch, "delay", lambda *args: None)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.LAUNCHED)
    fan_out_campaign(campaign_id=campaign.pk)
    ids = list(Message.objects.filter(campaign=campaign).values_list("pk", flat=True))

    # when
    outcomes = race(
        lambda: send_campaign_batch(
            campaign_id=campaign.pk, first_message_id=min(ids), last_message_id=max(ids)
        )
    )

    # then
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    fates = sorted(OutboundMessage.objects.values_list("status", "error_title", "handler_error"))
    assert [sent_to(c) for c in contacts] == [1] * 10, fates
    assert OutboundMessage.objects.count() == 10
    assert set(Message.objects.values_list("status", flat=True)) == {MessageStatus.SENT}
