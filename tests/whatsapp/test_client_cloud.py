"""The cloud backend against a fake Graph API: the exact JSON sent, and what each answer does.

Messages are queued in the outbox and delivered after commit; here the delivery runs in
this process (eager Celery), against a real HTTP server on 127.0.0.1.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.models import ConsentEvent, ConsentState
from whatsapp import delivery, exceptions, messages, outbox
from whatsapp.addressing import whatsapp_address
from whatsapp.client import graph_client
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db

Status = OutboundMessage.Status


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    """Run what the code under test queued for after its commit (the delivery tasks)."""

    def run(queue, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            result = queue(*args, **kwargs)
        if isinstance(result, OutboundMessage):
            result.refresh_from_db()
        return result

    return run


def ada_address(ada):
    return whatsapp_address(phone=ada.phone, wa_id=ada.wa_id, user_id=ada.whatsapp_user_id)


def template_to(ada, **kw):
    return outbox.enqueue_template(
        address=ada_address(ada), name="hello", language="en", contact_id=ada.pk, **kw
    )


def test_a_text_reply_posts_exactly_this_json_with_the_token(graph, ada_in_window, after_commit):
    message = after_commit(
        outbox.enqueue_text,
        address=ada_address(ada_in_window),
        body="Done.",
        contact_id=ada_in_window.pk,
    )

    [request] = graph.requests
    assert request.path == "/v23.0/106540352242922/messages"
    assert request.authorization == "Bearer test-token"
    assert request.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "447911123456",
        "type": "text",
        "text": {"preview_url": False, "body": "Done."},
        "biz_opaque_callback_data": str(message.pk),
    }
    assert (message.status, message.wamid) == (Status.ACCEPTED, "wamid.FAKE0001")
    assert message.contact_id == ada_in_window.pk


def test_reply_buttons_post_exactly_this_json(graph, ada_in_window, after_commit):
    message = after_commit(
        outbox.enqueue_buttons,
        address=ada_address(ada_in_window),
        body="May we send you offers?",
        buttons=[("consent:marketing:grant", "Yes"), ("consent:marketing:withdraw", "No")],
        footer="Reply STOP at any time.",
        notice_refs=["marketing/en/1"],
    )

    assert graph.requests[0].json == {
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
        "biz_opaque_callback_data": str(message.pk),
    }
    assert message.notice_refs == ["marketing/en/1"]


def test_a_template_with_quick_replies_posts_exactly_this_json(graph, ada, after_commit):
    message = after_commit(
        outbox.enqueue_template,
        address=ada_address(ada),
        name="consent_opt_in",
        language="en",
        body_params=["Yes, send me offers."],
        quick_reply_payloads=["consent:marketing:grant", "consent:marketing:withdraw"],
    )

    assert graph.requests[0].json == {
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
        "biz_opaque_callback_data": str(message.pk),
    }


def test_a_username_only_contact_is_addressed_by_recipient_never_to(graph, after_commit):
    from tests.factories import ContactFactory

    bsuid = "US.13491208655302741918"
    only_username = ContactFactory(phone=None, wa_id=None, whatsapp_user_id=bsuid)
    address = whatsapp_address(phone=None, wa_id=None, user_id=only_username.whatsapp_user_id)

    message = after_commit(outbox.enqueue_template, address=address, name="hello", language="en")

    body = graph.requests[0].json
    assert body["recipient"] == bsuid
    assert "to" not in body
    assert message.to == bsuid


def test_a_rate_limit_puts_the_row_back_with_retry_after_and_it_goes_once(graph, ada, after_commit):
    # given WhatsApp asks us to wait five seconds
    graph.rate_limited(retry_after=5)

    # when the delivery runs, the row is queued again, not before the wait
    message = after_commit(template_to, ada)
    assert (message.status, message.attempts, message.error_code) == (Status.QUEUED, 1, 130429)
    assert message.next_attempt_at >= timezone.now() + timedelta(seconds=4)
    assert delivery.deliver([message.pk]).delivered == 0

    # then Celery's countdown brings it back after the wait, and it is accepted once
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert delivery.deliver([message.pk]).delivered == 1
    message.refresh_from_db()
    assert message.status == Status.ACCEPTED
    assert graph.accepted() == {str(message.pk): 1}
    assert len(graph.requests) == 2


def test_the_task_honours_retry_after_through_its_countdown(graph, ada, monkeypatch):
    from celery.exceptions import Retry

    from whatsapp.tasks import deliver_outbound

    graph.rate_limited(retry_after=7)
    message = template_to(ada)

    with pytest.raises(Retry) as retried:
        deliver_outbound.apply(args=[[str(message.pk)]], throw=True)

    assert retried.value.when == 7


def test_a_5xx_is_retried_by_the_task_with_backoff(graph, ada):
    from celery.exceptions import Retry

    from whatsapp.tasks import deliver_outbound

    graph.error(1, status=500, message="Internal error")
    message = template_to(ada)

    with pytest.raises(Retry):
        deliver_outbound.apply(args=[[str(message.pk)]], throw=True)

    message.refresh_from_db()
    assert message.status == Status.QUEUED
    assert deliver_outbound.autoretry_for == (exceptions.RateLimited, exceptions.TemporaryFailure)
    assert deliver_outbound.retry_backoff
    deliver_outbound.apply(args=[[str(message.pk)]], throw=True)
    message.refresh_from_db()
    assert message.status == Status.ACCEPTED


def test_transient_errors_that_outlast_the_attempts_fail_the_row(graph, ada, settings):
    settings.WHATSAPP_MAX_ATTEMPTS = 2
    graph.error(130429, status=429)
    graph.error(130429, status=429)
    message = template_to(ada)

    delivery.deliver([message.pk])
    delivery.deliver([message.pk])

    message.refresh_from_db()
    assert (message.status, message.error_code, message.attempts) == (Status.FAILED, 130429, 2)
    assert message.error_title.startswith("gave up after 2 attempts")
    assert graph.accepted() == {}


def test_a_timeout_is_unknown_and_never_sent_again(graph, ada):
    graph.hang(1.0)  # longer than the client's 0.5 s timeout
    message = template_to(ada)

    delivery.deliver([message.pk])
    delivery.deliver([message.pk])

    message.refresh_from_db()
    assert message.status == Status.UNKNOWN
    assert len(graph.requests) == 1


def test_a_dropped_connection_is_unknown_and_never_sent_again(graph, ada):
    graph.drop()
    message = template_to(ada)

    delivery.deliver([message.pk])
    delivery.deliver([message.pk])

    message.refresh_from_db()
    assert message.status == Status.UNKNOWN
    assert graph.received() == {str(message.pk): 1}


def test_an_unreachable_api_is_retried_not_unknown(settings, ada):
    settings.WHATSAPP_BACKEND = "cloud"
    settings.WHATSAPP_API_BASE_URL = "http://127.0.0.1:9"  # discard port: refused
    settings.WHATSAPP_PHONE_NUMBER_ID = "1"
    settings.WHATSAPP_ACCESS_TOKEN = "t"
    settings.WHATSAPP_RATE_LIMIT_URL = ""
    message = template_to(ada)

    outcome = delivery.deliver([message.pk])

    assert isinstance(outcome.error, exceptions.TemporaryFailure)
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.QUEUED, 1)


@pytest.mark.parametrize(
    ("code", "status"),
    [(190, 401), (10, 403), (131026, 400), (132001, 400), (131009, 400)],
)
def test_permanent_errors_fail_with_their_code_and_are_never_retried(graph, ada, code, status):
    graph.error(code, status=status)
    message = template_to(ada)

    delivery.deliver([message.pk])
    delivery.deliver([message.pk])

    message.refresh_from_db()
    assert (message.status, message.error_code) == (Status.FAILED, code)
    assert len(graph.requests) == 1


def test_131049_waits_a_day_before_the_next_attempt(graph, ada):
    graph.error(131049, message="This message was not delivered to maintain healthy ecosystem")
    message = template_to(ada)

    delivery.deliver([message.pk])

    message.refresh_from_db()
    assert message.status == Status.QUEUED
    assert message.next_attempt_at > timezone.now() + timedelta(hours=23)
    delivery.deliver([message.pk])
    assert len(graph.requests) == 1


def test_131047_falls_back_to_the_template_when_there_is_one(graph, ada_in_window):
    address = ada_address(ada_in_window)
    fallback = messages.template(address, "preference_changed", "en", ["Saved."])
    message = outbox.enqueue_text(address=address, body="Saved.", fallback=fallback)
    graph.error(131047, message="Re-engagement message")

    delivery.deliver([message.pk])

    message.refresh_from_db()
    assert (message.status, message.kind) == (Status.ACCEPTED, OutboundMessage.Kind.TEMPLATE)
    assert [r.json["type"] for r in graph.requests] == ["text", "template"]


def test_131047_without_a_template_fails(graph, ada_in_window):
    message = outbox.enqueue_text(address=ada_address(ada_in_window), body="Saved.")
    graph.error(131047)

    delivery.deliver([message.pk])

    message.refresh_from_db()
    assert (message.status, message.error_code) == (Status.FAILED, 131047)


def test_131050_fails_the_row_and_consent_records_the_opt_out_once(graph, ada):
    graph.error(131050, message="This recipient has chosen to stop receiving marketing messages")
    message = template_to(ada)

    delivery.deliver([message.pk])

    message.refresh_from_db()
    assert (message.status, message.error_code) == (Status.FAILED, 131050)
    [event] = ConsentEvent.objects.all()
    assert (event.purpose, event.action, event.source) == (
        "marketing",
        "withdraw",
        "whatsapp_platform",
    )
    assert ConsentState.objects.get(contact=ada, purpose="marketing").status == "opted_out"


def test_free_form_outside_the_window_is_refused_before_anything_is_queued(graph, ada):
    with pytest.raises(exceptions.OutsideServiceWindow):
        outbox.enqueue_text(address=ada_address(ada), body="Hi")

    assert graph.requests == []
    assert not OutboundMessage.objects.exists()


def test_the_graph_client_reads_group_answers(graph):
    graph.refuse_join_requests = {"jr-gone"}

    answer = graph_client().answer_join_requests("g1", ["jr-ok", "jr-gone"], approve=True)

    assert answer.done == ["jr-ok"]
    assert answer.failed == [("jr-gone", 131203, "Join request not found")]
