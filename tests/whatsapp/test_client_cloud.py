"""The cloud backend against a fake Graph API: the exact JSON sent, errors, retries."""

import pytest

from consent.models import ConsentEvent, ConsentState
from whatsapp import exceptions as exc
from whatsapp.client import get_client
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db


def test_a_text_reply_posts_exactly_this_json_with_the_token(graph, ada_in_window):
    message = get_client().send_text(to="+447911123456", body="Done.", contact=ada_in_window)

    request = graph.requests[0]
    assert request["path"] == "/v23.0/106540352242922/messages"
    assert request["headers"]["Authorization"] == "Bearer test-token"
    assert request["json"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "447911123456",
        "type": "text",
        "text": {"preview_url": False, "body": "Done."},
    }
    assert message.wamid == "wamid.FAKE0001"
    assert message.status == OutboundMessage.Status.ACCEPTED
    assert message.contact_id == ada_in_window.pk


def test_reply_buttons_post_exactly_this_json(graph, ada_in_window):
    get_client().send_buttons(
        to="447911123456",
        body="May we send you offers?",
        buttons=[("consent:marketing:grant", "Yes"), ("consent:marketing:withdraw", "No")],
        footer="Reply STOP at any time.",
        notice_refs=["marketing/en/1"],
    )

    assert graph.requests[0]["json"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "447911123456",
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "May we send you offers?"},
            "footer": {"text": "Reply STOP at any time."},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "consent:marketing:grant", "title": "Yes"}},
                    {
                        "type": "reply",
                        "reply": {"id": "consent:marketing:withdraw", "title": "No"},
                    },
                ]
            },
        },
    }
    assert OutboundMessage.objects.get().notice_refs == ["marketing/en/1"]


def test_a_template_with_quick_replies_posts_exactly_this_json(graph, ada):
    get_client().send_template(
        to="447911123456",
        name="consent_opt_in",
        language="en",
        body_params=["Yes, send me offers."],
        quick_reply_payloads=["consent:marketing:grant", "consent:marketing:withdraw"],
    )

    assert graph.requests[0]["json"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "447911123456",
        "type": "template",
        "template": {
            "name": "consent_opt_in",
            "language": {"code": "en"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Yes, send me offers."}]},
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{"type": "payload", "payload": "consent:marketing:grant"}],
                },
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "1",
                    "parameters": [{"type": "payload", "payload": "consent:marketing:withdraw"}],
                },
            ],
        },
    }


def test_rate_limits_are_retried_with_backoff_then_succeed(graph, ada):
    graph.error(130429, message="Rate limit hit")
    graph.error(131056, message="Pair rate limit hit")

    message = get_client().send_template(to=ada.wa_id, name="hello", language="en")

    assert len(graph.requests) == 3
    assert message.attempts == 3
    assert message.status == OutboundMessage.Status.ACCEPTED
    # every attempt sent the same body: one message, one row
    assert len({str(r["json"]) for r in graph.requests}) == 1
    assert OutboundMessage.objects.count() == 1


def test_rate_limits_that_outlast_the_retries_raise_rate_limited(graph, ada):
    for _ in range(3):
        graph.error(130429)

    with pytest.raises(exc.RateLimited) as raised:
        get_client().send_template(to=ada.wa_id, name="hello", language="en")

    assert raised.value.code == 130429
    assert len(graph.requests) == 3
    failed = OutboundMessage.objects.get()
    assert (failed.status, failed.error_code, failed.attempts) == ("failed", 130429, 3)


def test_a_timeout_is_retried_and_the_message_stays_one_row(graph, ada):
    graph.hang(1.0)  # longer than the client's 0.5 s timeout

    message = get_client().send_template(to=ada.wa_id, name="hello", language="en")

    assert message.attempts == 2
    assert message.status == OutboundMessage.Status.ACCEPTED
    assert OutboundMessage.objects.count() == 1


def test_an_unreachable_api_fails_after_at_most_n_attempts(settings, ada):
    settings.WHATSAPP_BACKEND = "cloud"
    settings.WHATSAPP_API_BASE_URL = "http://127.0.0.1:9"  # discard port: refused
    settings.WHATSAPP_PHONE_NUMBER_ID = "1"
    settings.WHATSAPP_ACCESS_TOKEN = "t"

    with pytest.raises(exc.TemporaryFailure):
        get_client().send_template(to=ada.wa_id, name="hello", language="en")

    assert OutboundMessage.objects.get().attempts == 3


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        (190, 401, exc.AuthError),
        (10, 403, exc.AuthError),
        (131047, 400, exc.OutsideServiceWindow),
        (131026, 400, exc.InvalidRecipient),
        (132001, 400, exc.InvalidMessage),
    ],
)
def test_permanent_errors_are_mapped_and_never_retried(graph, ada, code, status, error):
    graph.error(code, status=status)

    with pytest.raises(error) as raised:
        get_client().send_template(to=ada.wa_id, name="hello", language="en")

    assert raised.value.code == code
    assert len(graph.requests) == 1


def test_131050_on_send_records_a_platform_withdraw_of_marketing(graph, ada):
    graph.error(131050, message="This recipient has chosen to stop receiving marketing messages")

    with pytest.raises(exc.RecipientStoppedMarketing):
        get_client().send_template(to=ada.wa_id, name="offer", language="en", contact=ada)

    event = ConsentEvent.objects.get()
    assert (event.purpose, event.action, event.source) == (
        "marketing",
        "withdraw",
        "whatsapp_platform",
    )
    assert ConsentState.objects.get(contact=ada, purpose="marketing").status == "opted_out"


def test_free_form_outside_the_window_is_refused_before_any_request(graph, ada):
    with pytest.raises(exc.OutsideServiceWindow):
        get_client().send_text(to=ada.wa_id, body="Hi")

    assert graph.requests == []
    assert not OutboundMessage.objects.exists()


def test_131050_without_a_contact_given_finds_the_contact_by_wa_id(graph, ada):
    graph.error(131050)

    with pytest.raises(exc.RecipientStoppedMarketing):
        get_client().send_template(to="+447911123456", name="offer", language="en")

    assert ConsentState.objects.get(contact=ada, purpose="marketing").status == "opted_out"
