"""Deliveries to a real HTTP receiver: signed, at least once, in order per contact, retried."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import delivery, services, tasks
from integrations.models import ChangeType, Delivery, DeliveryStatus, WebhookEndpoint
from staff.models import AuditEntry
from tests.consent_helpers import record
from tests.factories import ContactFactory

from .receiver import Received, Receiver, verify_webhook

pytestmark = pytest.mark.django_db


def endpoint_for(receiver, events=(ChangeType.CONSENT_CHANGED,)) -> WebhookEndpoint:
    return services.register_endpoint(url=receiver.url, events=list(events))


def story(contact, capture):
    """grant, withdraw, grant: three consent changes for one contact."""
    with capture(execute=True):
        record(contact, "grant")
    with capture(execute=True):
        record(contact, "withdraw")
    with capture(execute=True):
        record(contact, "grant")


def due_now() -> None:
    """Time passes: every retry is due and the sweep's grace has gone by."""
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=5))


def test_each_change_is_delivered_signed_with_its_id_and_sequence(
    receiver, django_capture_on_commit_callbacks
):
    endpoint = endpoint_for(receiver)
    ada = ContactFactory()

    story(ada, django_capture_on_commit_callbacks)

    events = [r.event for r in receiver.received]
    assert [e["data"]["action"] for e in events] == ["grant", "withdraw", "grant"]
    assert [e["sequence"] for e in events] == [2, 3, 4]  # 1 is contact.created, not wanted
    assert {e["contact"] for e in events} == {str(ada.pk)}
    for got in receiver.received:
        assert verify_webhook.verify(got.body, got.headers["Consent-Signature"], endpoint.secret)
        assert got.headers["Consent-Event-Id"] == got.event["id"]
        assert got.headers["Content-Type"] == "application/json"
    assert not verify_webhook.verify(
        receiver.received[0].body, receiver.received[0].headers["Consent-Signature"], "whsec_x"
    )
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}
    log = Delivery.objects.first().log.get()
    assert log.status_code == 200 and log.request_bytes > 0


def test_an_endpoint_gets_only_the_types_it_asked_for(receiver, django_capture_on_commit_callbacks):
    endpoint_for(receiver, events=[ChangeType.CONTACT_CREATED])
    with django_capture_on_commit_callbacks(execute=True):
        ada = ContactFactory()
    with django_capture_on_commit_callbacks(execute=True):
        record(ada, "grant")
    assert [r.event["type"] for r in receiver.received] == ["contact.created"]


@pytest.mark.parametrize("fault", ["fail", "slow", "close"])
def test_a_failing_receiver_is_retried_and_a_later_change_waits_for_the_earlier(
    fault, receiver, django_capture_on_commit_callbacks
):
    endpoint = endpoint_for(receiver)
    receiver.mode = fault
    ada = ContactFactory()

    story(ada, django_capture_on_commit_callbacks)

    first, second, third = Delivery.objects.order_by("sequence")
    assert first.status == DeliveryStatus.PENDING and first.attempts >= 1
    assert first.next_attempt_at > timezone.now()
    assert (second.attempts, third.attempts) == (0, 0)  # never sent before the first
    attempt = first.log.first()
    assert attempt.status_code == 500 if fault == "fail" else attempt.error
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None and endpoint.enabled

    # the receiver heals; the sweep finds what is due
    receiver.mode = "ok"
    receiver.received.clear()
    due_now()
    tasks.sweep_webhook_deliveries()

    assert [r.event["sequence"] for r in receiver.received] == [2, 3, 4]
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_contacts_do_not_wait_for_each_other(receiver, django_capture_on_commit_callbacks):
    endpoint_for(receiver)
    ada, bob = ContactFactory(), ContactFactory()
    receiver.mode = "fail"
    with django_capture_on_commit_callbacks(execute=True):
        record(ada, "grant")
    receiver.mode = "ok"
    with django_capture_on_commit_callbacks(execute=True):
        record(bob, "grant")
    assert [r.event["contact"] for r in receiver.delivered()] == [str(bob.pk)]


def test_the_backoff_grows_with_jitter(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10
    settings.WEBHOOK_RETRY_MAX_SECONDS = 3600
    from integrations.delivery import backoff

    assert 5 <= backoff(1) <= 10
    assert 20 <= backoff(3) <= 40
    assert 1800 <= backoff(30) <= 3600
    assert len({backoff(4) for _ in range(20)}) > 1


def test_an_endpoint_failing_for_three_days_is_disabled_and_staff_are_told(
    receiver, django_capture_on_commit_callbacks, mailoutbox, settings
):
    settings.ADMINS = [("Compliance", "compliance@example.com")]
    endpoint = endpoint_for(receiver)
    receiver.mode = "fail"
    ada = ContactFactory()
    with django_capture_on_commit_callbacks(execute=True):
        record(ada, "grant")
    long_ago = timezone.now() - timedelta(hours=73)
    WebhookEndpoint.objects.update(failing_since=long_ago)
    Delivery.objects.update(first_attempt_at=long_ago)
    due_now()

    with django_capture_on_commit_callbacks(execute=True):
        tasks.sweep_webhook_deliveries()

    endpoint.refresh_from_db()
    assert not endpoint.enabled and "72" in endpoint.disabled_reason
    assert Delivery.objects.get().status == DeliveryStatus.FAILED
    assert AuditEntry.objects.filter(action="disable_webhook_endpoint").exists()
    assert "disabled" in mailoutbox[0].subject

    # re-enabled: a new change goes again
    receiver.mode = "ok"
    with django_capture_on_commit_callbacks(execute=True):
        services.change_endpoint(endpoint=endpoint, enabled=True)
    with django_capture_on_commit_callbacks(execute=True):
        record(ada, "withdraw")
    assert [r.event["data"]["action"] for r in receiver.delivered()] == ["withdraw"]


def test_rotation_signs_with_both_secrets_during_the_overlap(
    receiver, django_capture_on_commit_callbacks
):
    endpoint = endpoint_for(receiver)
    old = endpoint.secret
    rotated = services.rotate_secret(endpoint=endpoint)
    ada = ContactFactory()

    with django_capture_on_commit_callbacks(execute=True):
        record(ada, "grant")

    (got,) = receiver.received
    header = got.headers["Consent-Signature"]
    assert header.count("v1=") == 2
    assert verify_webhook.verify(got.body, header, old)
    assert verify_webhook.verify(got.body, header, rotated.secret)

    WebhookEndpoint.objects.update(previous_secret_expires_at=timezone.now())
    receiver.received.clear()
    with django_capture_on_commit_callbacks(execute=True):
        record(ada, "withdraw")
    (got,) = receiver.received
    assert not verify_webhook.verify(got.body, got.headers["Consent-Signature"], old)
    assert verify_webhook.verify(got.body, got.headers["Consent-Signature"], rotated.secret)


def test_resend_and_replay_deliver_again_with_the_same_event_id(
    receiver, django_capture_on_commit_callbacks
):
    endpoint = endpoint_for(receiver)
    ada = ContactFactory()
    story(ada, django_capture_on_commit_callbacks)
    ids = [r.event["id"] for r in receiver.received]
    receiver.received.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.resend(deliveries=Delivery.objects.order_by("sequence")[:1])
    assert [r.event["id"] for r in receiver.received] == ids[:1]

    receiver.received.clear()
    with django_capture_on_commit_callbacks(execute=True):
        owed = services.replay(endpoint=endpoint, since=timezone.now() - timedelta(hours=1))
    assert owed == 3
    assert [r.event["id"] for r in receiver.received] == ids


def test_replay_owes_changes_from_before_the_endpoint_existed(
    receiver, django_capture_on_commit_callbacks
):
    ada = ContactFactory()
    record(ada, "grant")
    endpoint = endpoint_for(receiver, events=[ChangeType.CONTACT_CREATED])
    with django_capture_on_commit_callbacks(execute=True):
        services.replay(endpoint=endpoint, since=timezone.now() - timedelta(hours=1))
    assert [r.event["type"] for r in receiver.received] == ["contact.created"]


def test_private_addresses_are_refused_in_production(receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    for url in [
        receiver.url,
        "https://127.0.0.1/hook",
        "https://10.0.0.8/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://localhost/hook",
        "http://203.0.113.9/hook",
    ]:
        with pytest.raises(services.InvalidEndpoint) as refused:
            services.register_endpoint(url=url, events=["consent.changed"])
        assert refused.value.field == "url"


def test_an_endpoint_that_comes_to_point_at_a_private_address_is_not_called(
    receiver, settings, django_capture_on_commit_callbacks
):
    endpoint_for(receiver)
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with django_capture_on_commit_callbacks(execute=True):
        record(ContactFactory(), "grant")
    assert receiver.received == []
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.log.get().error.startswith("refused")


def test_the_address_is_checked_where_the_socket_opens(receiver, settings, monkeypatch):
    # DNS rebinding: a name registered while public answers loopback when the worker connects.
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    lookups = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr("integrations.addresses.resolve", resolve)

    response = delivery.post(
        f"https://rebind.example:{receiver.server.server_address[1]}/hook",
        b"{}",
        {"Content-Type": "application/json"},
    )

    assert response.status_code is None
    assert "refused: rebind.example is a private, loopback or link-local address" in (
        response.error or ""
    )
    assert lookups == ["rebind.example"]  # once, by the connection itself
    assert receiver.received == []


def test_the_order_check_of_these_tests_catches_an_overtaking_change(receiver):
    def got(sequence: int):
        body = json.dumps({"id": str(sequence), "contact": "c", "sequence": sequence}).encode()
        return Received({}, body, 200)

    receiver.received = [got(2), got(2), got(3)]
    assert receiver.in_order_per_contact({"c": [2, 3]})
    receiver.received = [got(3), got(2)]
    assert not receiver.in_order_per_contact({"c": [2, 3]})


def test_every_endpoint_that_wants_a_change_gets_it(django_capture_on_commit_callbacks):
    first, second = Receiver(), Receiver()
    try:
        for server in (first, second):
            endpoint_for(server)
        with django_capture_on_commit_callbacks(execute=True):
            record(ContactFactory(), "grant")
        assert len(first.delivered()) == len(second.delivered()) == 1
    finally:
        first.stop()
        second.stop()
