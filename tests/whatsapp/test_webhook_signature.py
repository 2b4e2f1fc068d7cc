import pytest

from tests.whatsapp.helpers import (
    URL,
    encode,
    first_message,
    load_payload,
    post_webhook,
    sign,
    with_message,
)
from whatsapp.models import InboundEvent, WebhookDelivery

pytestmark = pytest.mark.django_db


def test_handshake_echoes_the_challenge_for_the_right_token(client):
    response = client.get(
        URL,
        {"hub.mode": "subscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "42"},
    )

    assert response.status_code == 200
    assert response.content == b"42"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "42"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "1"},
        {"hub.challenge": "42"},
    ],
)
def test_handshake_refuses_anything_else(client, params):
    assert client.get(URL, params).status_code == 403


def test_a_valid_signature_is_accepted_and_stored(client):
    response = post_webhook(client, load_payload("text_stop"))

    assert response.status_code == 200
    assert InboundEvent.objects.count() == 1


def test_a_signature_made_with_another_secret_is_refused_and_nothing_stored(client):
    body = encode(load_payload("text_stop"))

    response = post_webhook(client, body, signature=sign(body, "someone-else"))

    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_missing_signature_is_refused_and_nothing_stored(client):
    response = post_webhook(client, load_payload("text_stop"), signature=None)

    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_body_altered_by_one_byte_is_refused(client):
    body = encode(load_payload("text_stop"))
    signature = sign(body)
    altered = body.replace(b'"STOP"', b'"STOQ"')
    assert len(altered) == len(body) and altered != body

    response = post_webhook(client, altered, signature=signature)

    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("header", ["", "sha256=", "md5=abc", "sha256=zzz", "sha256=é"])
def test_malformed_signature_headers_are_refused(client, header):
    assert post_webhook(client, load_payload("text_stop"), signature=header).status_code == 403


def test_a_signed_body_that_is_not_json_is_answered_200_kept_raw_and_listed(client):
    body = b'{"object": "whatsapp_business_account", "entry": ['

    response = post_webhook(client, body)

    # Meta would resend an error for days; the bytes are kept and staff see them.
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert bytes(delivery.body) == body
    assert delivery.state == WebhookDelivery.State.MALFORMED
    row = InboundEvent.objects.get()
    assert row.kind == InboundEvent.Kind.MALFORMED
    assert row.state == InboundEvent.State.FAILED
    assert row.carries_opt_out  # unreadable: it may hold a STOP
    assert "not a readable delivery" in row.error


def test_a_lone_surrogate_in_a_text_is_stored_as_the_replacement_character(client):
    # JSON may escape half a surrogate pair; no database stores it, and the item is kept.
    body = encode(with_message("text_stop", body="ST\ud800OP"))
    assert b"\\ud800" in body

    response = post_webhook(client, body)

    assert response.status_code == 200
    stored = InboundEvent.objects.get()
    assert first_message(stored.payload)["text"]["body"] == "ST\ufffdOP"
    assert bytes(stored.delivery.body) == body  # the raw body is kept as it came


def test_a_body_over_the_limit_is_refused_before_anything_else(client, settings):
    settings.WHATSAPP_WEBHOOK_MAX_BODY = 1000
    body = b" " * 1001

    response = post_webhook(client, body)

    assert response.status_code == 413
    assert not InboundEvent.objects.exists()


def test_other_methods_are_not_allowed(client):
    assert client.put(URL, data=b"{}").status_code == 405


def test_the_answer_to_meta_carries_no_content_security_policy_the_pages_keep_theirs(client):
    response = post_webhook(client, load_payload("text_stop"))

    assert response.status_code == 200
    assert "Content-Security-Policy" not in response.headers
    assert "Content-Security-Policy-Report-Only" not in response.headers
    assert "Content-Security-Policy" in client.get("/opt-in/").headers
