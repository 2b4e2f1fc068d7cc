"""A stored opt-out gates sends before it is processed (issue 21).

A STOP answered 200 is stored; the task that processes it may be lost (the broker went
down, the worker was killed). Before any message to that person leaves the outbox,
what they sent and we have not processed is processed first, or the message waits.
Here nothing processes the stored STOP but the outbox itself: the webhook's enqueue
runs on commit, which these tests never run.
"""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from config.celery import app
from consent.models import ConsentState
from tests.consent_helpers import record
from tests.factories import ContactFactory
from tests.whatsapp.helpers import ADA_WA_ID, load_payload, post_webhook, with_message
from whatsapp import delivery, outbox
from whatsapp.addressing import whatsapp_address
from whatsapp.models import InboundEvent, OutboundMessage, WebhookDelivery
from whatsapp.parsing import split_delivery
from whatsapp.tasks import sweep_outbox

pytestmark = pytest.mark.django_db

Status = OutboundMessage.Status
BSUID = "GB.5550001112223334"


@pytest.fixture
def ada_opted_in(ada, notices):
    record(ada, "grant", at=timezone.now() - timedelta(days=1))
    return ada


def marketing_to(contact) -> OutboundMessage:
    """A campaign-like template to this person, queued (its delivery task not run)."""
    return outbox.enqueue_template(
        address=whatsapp_address(
            phone=contact.phone, wa_id=contact.wa_id, user_id=contact.whatsapp_user_id
        ),
        name="winter_sale",
        language="en",
        contact_id=contact.pk,
        purpose="marketing",
        reason="campaign:test",
    )


def stored_stop(client, name: str = "text_stop") -> InboundEvent:
    """A STOP answered 200 and stored, whose processing task never ran."""
    response = post_webhook(client, with_message(name, at=timezone.now()))
    assert response.status_code == 200
    item = InboundEvent.objects.get(kind="message")
    assert item.state == InboundEvent.State.RECEIVED
    return item


def marketing_status(contact) -> str:
    return ConsentState.objects.get(contact=contact, purpose="marketing").status


def test_a_stop_stored_but_not_processed_holds_the_campaign_message_to_that_person(
    client, ada_opted_in
):
    # given a STOP from Ada answered 200, its processing lost, and a campaign message to her
    stop = stored_stop(client)
    message = marketing_to(ada_opted_in)

    # when the outbox delivers the message
    delivery.deliver([message.pk])

    # then the STOP was processed first, and the message did not go
    stop.refresh_from_db()
    message.refresh_from_db()
    assert stop.state == InboundEvent.State.PROCESSED
    assert marketing_status(ada_opted_in) == "opted_out"
    assert (message.status, message.skip_reason) == (Status.SKIPPED, "opted_out")
    assert message.sent_at is None


def test_the_platforms_own_stop_stored_but_not_processed_holds_the_message_too(
    client, ada_opted_in
):
    payload = load_payload("user_preferences_stop")
    [preference] = payload["entry"][0]["changes"][0]["value"]["user_preferences"]
    preference["timestamp"] = int(timezone.now().timestamp())
    post_webhook(client, payload)
    message = marketing_to(ada_opted_in)

    delivery.deliver([message.pk])

    message.refresh_from_db()
    assert (message.status, message.skip_reason) == (Status.SKIPPED, "opted_out")


def test_a_stop_sent_by_business_scoped_id_alone_holds_a_message_to_that_id(client, notices):
    # given someone we know only by their business-scoped id, opted in
    ada = ContactFactory(phone=None, wa_id=None, whatsapp_user_id=BSUID, username="ada.l")
    record(ada, "grant", at=timezone.now() - timedelta(days=1))
    payload = with_message("text_username_only", at=timezone.now(), body="STOP")
    post_webhook(client, payload)
    message = marketing_to(ada)
    assert message.to == BSUID

    delivery.deliver([message.pk])

    message.refresh_from_db()
    assert (message.status, message.skip_reason) == (Status.SKIPPED, "opted_out")


def test_a_stored_stop_that_fails_to_process_keeps_the_message_queued(
    client, ada_opted_in, extra_handlers
):
    # given a stored STOP whose processing fails (a handler raises)
    broken = {"yes": True}

    @extra_handlers("message")
    def failing(event):
        if broken["yes"]:
            raise RuntimeError("the database said no")

    stop = stored_stop(client)
    message = marketing_to(ada_opted_in)

    # when the outbox delivers the message
    outcome = delivery.deliver([message.pk])

    # then it did not go, is not failed or skipped, but queued again for later, and the
    # hold cost it no attempt
    message.refresh_from_db()
    stop.refresh_from_db()
    assert stop.state == InboundEvent.State.FAILED and stop.carries_opt_out
    assert message.status == Status.QUEUED
    assert message.next_attempt_at > timezone.now() + timedelta(seconds=10)
    assert message.attempts == 0
    assert message.sent_at is None
    assert outcome.held == [str(message.pk)]

    # and while the STOP stays unprocessed (its retry not due yet), it waits again
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    delivery.deliver([message.pk])
    message.refresh_from_db()
    assert message.status == Status.QUEUED

    # once the STOP can be processed (its retry due), it is, and the message never goes
    broken["yes"] = False
    InboundEvent.objects.filter(pk=stop.pk).update(retry_at=timezone.now())
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    delivery.deliver([message.pk])
    message.refresh_from_db()
    assert (message.status, message.skip_reason) == (Status.SKIPPED, "opted_out")


def test_a_reply_the_person_asked_for_also_waits_for_what_they_sent_since(
    client, ada_opted_in, extra_handlers
):
    # Restrictive: every message to a person, not only those with a consent purpose.
    @extra_handlers("message")
    def failing(event):
        raise RuntimeError("down")

    stored_stop(client)
    reply = outbox.enqueue_template(
        address=whatsapp_address(wa_id=ADA_WA_ID), name="order_update", language="en"
    )

    delivery.deliver([reply.pk])

    reply.refresh_from_db()
    assert reply.status == Status.QUEUED and reply.sent_at is None


def test_an_unprocessed_item_from_someone_else_holds_nothing(client, ada_opted_in, extra_handlers):
    @extra_handlers("message")
    def failing(event):
        raise RuntimeError("down")

    stored_stop(client)  # from Ada, failing
    bob = ContactFactory(phone="+447911199999")
    record(bob, "grant", at=timezone.now() - timedelta(days=1))
    message = marketing_to(bob)

    delivery.deliver([message.pk])

    message.refresh_from_db()
    assert message.status == Status.ACCEPTED


def test_an_unreadable_body_naming_the_recipient_holds_their_messages_only(client, ada_opted_in):
    # given a signed body that is not JSON, with Ada's number in it (it may be her STOP)
    body = b'{"entry": [{"from": "447911123456", "text": "STOP"' + b"\xff"
    assert post_webhook(client, body).status_code == 200
    bob = ContactFactory(phone="+447911199999")
    record(bob, "grant", at=timezone.now() - timedelta(days=1))
    to_ada, to_bob = marketing_to(ada_opted_in), marketing_to(bob)

    delivery.deliver([to_ada.pk, to_bob.pk])

    to_ada.refresh_from_db()
    to_bob.refresh_from_db()
    assert to_ada.status == Status.QUEUED and to_ada.sent_at is None
    assert to_bob.status == Status.ACCEPTED


def test_a_delivery_stored_but_never_split_is_split_and_processed_before_a_message_goes(
    ada_opted_in,
):
    # given a raw body kept by a request that died before splitting it
    import json

    WebhookDelivery.objects.create(
        body=json.dumps(with_message("text_stop", at=timezone.now())).encode(),
        state=WebhookDelivery.State.STORED,
    )
    message = marketing_to(ada_opted_in)

    delivery.deliver([message.pk])

    message.refresh_from_db()
    assert (message.status, message.skip_reason) == (Status.SKIPPED, "opted_out")
    assert not WebhookDelivery.objects.filter(state=WebhookDelivery.State.STORED).exists()


def test_the_outbox_sweep_processes_stored_deliveries_first(client, ada_opted_in, settings):
    # given a STOP stored 20 s ago whose task was lost, and a message no task took
    settings.WHATSAPP_OUTBOX_REQUEUE_AFTER = 300
    stop = stored_stop(client)
    InboundEvent.objects.filter(pk=stop.pk).update(
        received_at=timezone.now() - timedelta(seconds=20)
    )
    message = marketing_to(ada_opted_in)
    OutboundMessage.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=10)
    )

    # when the outbox sweep runs (it requeues the message: eager here, so it is delivered)
    sweep_outbox()

    # then the STOP was processed, and the requeued message did not go
    stop.refresh_from_db()
    message.refresh_from_db()
    assert stop.state == InboundEvent.State.PROCESSED
    assert (message.status, message.skip_reason) == (Status.SKIPPED, "opted_out")


def test_the_sweeps_take_an_item_seconds_after_its_task_was_lost(client, ada_opted_in):
    stop = stored_stop(client)
    InboundEvent.objects.filter(pk=stop.pk).update(
        received_at=timezone.now() - timedelta(seconds=django_settings.WHATSAPP_INBOUND_SWEEP_AFTER)
    )

    found = delivery.sweep()

    assert found.inbound_processed == 1
    assert marketing_status(ada_opted_in) == "opted_out"
    assert django_settings.WHATSAPP_INBOUND_SWEEP_AFTER <= 30


def test_the_straggler_sweep_runs_at_least_as_often_as_the_outbox_sweep():
    schedule = django_settings.CELERY_BEAT_SCHEDULE
    inbound = schedule["whatsapp-process-straggling-inbound-events"]["schedule"]
    outbox_sweep = schedule["whatsapp-sweep-outbox"]["schedule"]
    assert inbound <= outbox_sweep <= 60


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("whatsapp.tasks.process_inbound_events", "inbound"),
        ("whatsapp.tasks.process_received_inbound_events", "inbound"),
        ("whatsapp.tasks.process_straggling_inbound_events", "inbound"),
        ("whatsapp.tasks.sweep_outbox", "inbound"),
        ("imports.tasks.run_contact_import", "files"),
        ("imports.tasks.check_contact_import", "files"),
        ("imports.tasks.run_export", "files"),
        ("whatsapp.tasks.deliver_outbound", "celery"),
        ("campaigns.tasks.send_campaign_batch", "celery"),
        ("campaigns.tasks.fan_out_campaign", "celery"),
    ],
)
def test_inbound_tasks_go_to_the_inbound_queue_imports_to_files_sends_to_the_default(task, queue):
    assert app.amqp.router.route({}, task)["queue"].name == queue


def test_every_webhook_item_knows_who_sent_it():
    cases = {
        "text_stop": ("447911123456", "GB.1349857562938475"),
        "text_username_only": ("", BSUID),
        "user_preferences_stop": ("447911123456", ""),
        "status_failed_131050": ("447911123456", ""),
    }
    for name, expected in cases.items():
        [item] = split_delivery(load_payload(name))
        assert (item.sender, item.sender_user_id) == expected, name


def test_the_sender_is_stored_with_the_item(client):
    post_webhook(client, load_payload("text_stop"))

    item = InboundEvent.objects.get()
    assert (item.sender, item.sender_user_id) == ("447911123456", "GB.1349857562938475")
