"""The console backend: validations, the 24-hour window, the outbox."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from whatsapp import exceptions as exc
from whatsapp import outbox
from whatsapp.addressing import whatsapp_address
from whatsapp.messages import in_service_window
from whatsapp.models import OutboundMessage
from whatsapp.services import open_service_window

pytestmark = pytest.mark.django_db

YES_NO = [("consent:marketing:grant", "Yes"), ("consent:marketing:withdraw", "No")]


def address(contact):
    return whatsapp_address(
        phone=contact.phone, wa_id=contact.wa_id, user_id=contact.whatsapp_user_id
    )


def test_console_keeps_the_message_in_the_outbox_and_sends_nothing(
    ada_in_window, caplog, django_capture_on_commit_callbacks
):
    # At INFO whatever an in-process Celery worker earlier in this process set the root to.
    caplog.set_level(logging.INFO, logger="whatsapp.client")
    with django_capture_on_commit_callbacks(execute=True):
        queued = outbox.enqueue_text(
            address=address(ada_in_window), body="Hello", contact_id=ada_in_window.pk
        )
        assert queued.status == OutboundMessage.Status.QUEUED

    stored = OutboundMessage.objects.get()
    assert stored.backend == "console"
    assert stored.status == OutboundMessage.Status.ACCEPTED
    assert stored.wamid == f"wamid.console.{stored.pk.hex}"
    assert stored.payload["text"]["body"] == "Hello"
    assert "WhatsApp (console) to 447911123456" in caplog.text


def test_nothing_is_delivered_before_the_decision_commits(ada_in_window):
    # Without a commit (the test's transaction never commits), the row just waits.
    outbox.enqueue_text(address=address(ada_in_window), body="Hello")

    assert OutboundMessage.objects.get().status == OutboundMessage.Status.QUEUED


def test_the_window_runs_24_hours_from_the_last_inbound_message(ada):
    open_service_window(
        recipients=[ada.wa_id], last_inbound_at=timezone.now() - timedelta(hours=23)
    )
    assert in_service_window(["447911123456"])

    open_service_window(
        recipients=["447911123457"], last_inbound_at=timezone.now() - timedelta(hours=25)
    )
    assert not in_service_window(["447911123457"])


def test_an_older_message_never_moves_the_window_back(ada):
    now = timezone.now()
    open_service_window(recipients=[ada.wa_id], last_inbound_at=now)
    open_service_window(recipients=[ada.wa_id], last_inbound_at=now - timedelta(days=3))

    assert in_service_window(address(ada))


def test_the_window_is_found_by_the_business_scoped_id_too(ada):
    ada.whatsapp_user_id = "GB.42"
    ada.save()
    open_service_window(recipients=["GB.42"], last_inbound_at=timezone.now())

    assert in_service_window(address(ada))


def test_an_inbound_message_opens_the_window(deliver, ada, notices):
    from tests.whatsapp.helpers import with_message

    deliver(with_message("text_free_form", at=timezone.now()))

    assert in_service_window([ada.wa_id])
    assert in_service_window(["GB.1349857562938475"])


@pytest.mark.parametrize(
    "enqueue",
    [
        lambda to: outbox.enqueue_text(address=to, body="Hi"),
        lambda to: outbox.enqueue_buttons(address=to, body="Hi", buttons=YES_NO),
    ],
)
def test_free_form_outside_the_window_is_refused_locally(ada, enqueue):
    with pytest.raises(exc.OutsideServiceWindow):
        enqueue(address(ada))

    assert not OutboundMessage.objects.exists()


def test_a_template_goes_outside_the_window(ada):
    message = outbox.enqueue_template(address=address(ada), name="hello", language="en")

    assert message.kind == OutboundMessage.Kind.TEMPLATE


def test_outside_the_window_the_fallback_template_is_queued_instead(ada):
    from whatsapp import messages

    fallback = messages.template(address(ada), "changed", "en", ["Saved."])

    message = outbox.enqueue_text(address=address(ada), body="Saved.", fallback=fallback)

    assert message.kind == OutboundMessage.Kind.TEMPLATE
    assert message.payload["template"]["name"] == "changed"


@pytest.mark.parametrize(
    "buttons",
    [
        [],
        [("a", "One"), ("b", "Two"), ("c", "Three"), ("d", "Four")],
        [("a", "Same"), ("b", "same")],
        [("a", "One"), ("a", "Two")],
        [("a", "A title longer than 20")],
        [("x" * 257, "Ok")],
        [("", "Ok")],
        [("a", "  ")],
    ],
)
def test_invalid_buttons_are_refused_before_queueing(ada_in_window, buttons):
    with pytest.raises(exc.InvalidMessage):
        outbox.enqueue_buttons(address=address(ada_in_window), body="Hi", buttons=buttons)

    assert not OutboundMessage.objects.exists()


def test_the_limits_themselves_are_accepted(ada_in_window):
    buttons = [("x" * 256, "t" * 20), ("b", "Two"), ("c", "Three")]

    message = outbox.enqueue_buttons(address=address(ada_in_window), body="Hi", buttons=buttons)

    assert len(message.payload["interactive"]["action"]["buttons"]) == 3


def test_the_same_origin_is_queued_once(ada):
    first = outbox.enqueue_template(
        address=address(ada), name="hello", language="en", origin="test:once"
    )
    again = outbox.enqueue_template(
        address=address(ada), name="hello", language="en", origin="test:once"
    )

    assert again.pk == first.pk
    assert OutboundMessage.objects.count() == 1
