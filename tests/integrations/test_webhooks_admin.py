"""Webhook endpoints in the admin: the secret shown once, rotate, enable / disable, replay;
the delivery log with resend."""

import pytest
from django.contrib.messages import get_messages

from integrations import services
from integrations.models import Change, Delivery, WebhookEndpoint
from tests.consent_helpers import record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

ADMIN = "/admin/integrations/"


def test_adding_an_endpoint_shows_its_secret_once(admin_client):
    response = admin_client.post(
        f"{ADMIN}webhookendpoint/add/",
        {"url": "https://hooks.example.com/in", "events": ["consent.changed"], "enabled": "on"},
    )
    assert response.status_code == 302, response.content
    endpoint = WebhookEndpoint.objects.get()
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(endpoint.secret in m for m in shown)
    admin_client.get(f"{ADMIN}webhookendpoint/")  # where the message is shown, once
    page = admin_client.get(f"{ADMIN}webhookendpoint/{endpoint.pk}/change/")
    assert page.status_code == 200
    assert endpoint.secret not in page.content.decode()


def test_rotate_disable_and_replay_actions(admin_client):
    endpoint = services.register_endpoint(
        url="https://hooks.example.com/in", events=["consent.changed"]
    )
    old = endpoint.secret
    changelist = f"{ADMIN}webhookendpoint/"
    admin_client.post(changelist, {"action": "rotate_secret", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert endpoint.previous_secret == old and endpoint.secret != old

    admin_client.post(changelist, {"action": "disable", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert not endpoint.enabled

    form = admin_client.post(
        changelist, {"action": "replay_from", "_selected_action": [endpoint.pk]}
    )
    assert form.status_code == 200 and b"Since" in form.content
    admin_client.post(
        changelist,
        {
            "action": "replay_from",
            "_selected_action": [endpoint.pk],
            "since": "2020-01-01 00:00",
            "confirm": "Replay",
        },
    )
    assert (
        Delivery.objects.filter(endpoint=endpoint).count()
        == Change.objects.filter(type="consent.changed").count()
    )


def test_delivery_and_change_lists_and_resend(admin_client):
    services.register_endpoint(url="https://hooks.example.com/in", events=["consent.changed"])
    record(ContactFactory(), "grant")
    delivery = Delivery.objects.get()
    assert admin_client.get(f"{ADMIN}delivery/").status_code == 200
    assert admin_client.get(f"{ADMIN}delivery/{delivery.pk}/change/").status_code == 200
    assert admin_client.get(f"{ADMIN}change/").status_code == 200
    response = admin_client.post(
        f"{ADMIN}delivery/", {"action": "resend", "_selected_action": [delivery.pk]}
    )
    assert response.status_code == 302
