"""The console backend: validations, the 24-hour window, the outbox."""

from datetime import timedelta

import pytest
from django.utils import timezone

from whatsapp import exceptions as exc
from whatsapp.client import get_client, in_service_window
from whatsapp.models import OutboundMessage
from whatsapp.services import open_service_window

pytestmark = pytest.mark.django_db

YES_NO = [("consent:marketing:grant", "Yes"), ("consent:marketing:withdraw", "No")]


def test_console_stores_the_message_in_the_outbox_and_sends_nothing(ada_in_window, caplog):
    message = get_client().send_text(to=ada_in_window.wa_id, body="Hello", contact=ada_in_window)

    stored = OutboundMessage.objects.get()
    assert stored == message
    assert stored.backend == "console"
    assert stored.wamid.startswith("wamid.console.")
    assert stored.payload["text"]["body"] == "Hello"
    assert "WhatsApp (console) to 447911123456" in caplog.text


def test_the_window_runs_24_hours_from_the_last_inbound_message(ada):
    open_service_window(
        recipients=[ada.wa_id], last_inbound_at=timezone.now() - timedelta(hours=23)
    )
    assert in_service_window(to="+447911123456")

    open_service_window(
        recipients=["447911123457"], last_inbound_at=timezone.now() - timedelta(hours=25)
    )
    assert not in_service_window(to="447911123457")


def test_an_older_message_never_moves_the_window_back(ada):
    now = timezone.now()
    open_service_window(recipients=[ada.wa_id], last_inbound_at=now)
    open_service_window(recipients=[ada.wa_id], last_inbound_at=now - timedelta(days=3))

    assert in_service_window(to=ada.wa_id)


def test_the_window_is_found_by_the_business_scoped_id_too(ada):
    ada.whatsapp_user_id = "GB.42"
    ada.save()
    open_service_window(recipients=["GB.42"], last_inbound_at=timezone.now())

    assert in_service_window(to="447911123456", contact=ada)


def test_an_inbound_message_opens_the_window(deliver, ada, notices):
    from tests.whatsapp.helpers import with_message

    deliver(with_message("text_free_form", at=timezone.now()))

    assert in_service_window(to=ada.wa_id)
    assert in_service_window(to="GB.1349857562938475")


@pytest.mark.parametrize(
    "send",
    [
        lambda c, to: c.send_text(to=to, body="Hi"),
        lambda c, to: c.send_buttons(to=to, body="Hi", buttons=YES_NO),
    ],
)
def test_free_form_outside_the_window_is_refused_locally(ada, send):
    with pytest.raises(exc.OutsideServiceWindow):
        send(get_client(), ada.wa_id)

    assert not OutboundMessage.objects.exists()


def test_a_template_goes_outside_the_window(ada):
    message = get_client().send_template(to=ada.wa_id, name="hello", language="en")

    assert message.kind == OutboundMessage.Kind.TEMPLATE


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
def test_invalid_buttons_are_refused_before_sending(ada_in_window, buttons):
    with pytest.raises(exc.InvalidMessage):
        get_client().send_buttons(to=ada_in_window.wa_id, body="Hi", buttons=buttons)

    assert not OutboundMessage.objects.exists()


def test_the_limits_themselves_are_accepted(ada_in_window):
    buttons = [("x" * 256, "t" * 20), ("b", "Two"), ("c", "Three")]

    message = get_client().send_buttons(to=ada_in_window.wa_id, body="Hi", buttons=buttons)

    assert len(message.payload["interactive"]["action"]["buttons"]) == 3
