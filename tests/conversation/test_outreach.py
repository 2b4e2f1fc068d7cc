"""conversation.outreach: the one-tap opt-in inside and outside the window."""

import pytest

from conversation.outreach import NoNoticeToShow, send_confirmation_text, send_one_tap_opt_in
from tests.factories import NoticeFactory
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db


def test_inside_the_window_it_sends_reply_buttons_with_the_notice(ada_in_window, notices):
    message = send_one_tap_opt_in(contact=ada_in_window, purposes=["marketing"], reason="test")

    assert message.kind == OutboundMessage.Kind.BUTTONS
    assert message.notice_refs == ["marketing/en/1"]
    assert message.reason == "test"
    interactive = message.payload["interactive"]
    assert notices["marketing"].text in interactive["body"]["text"]
    assert [b["reply"]["id"] for b in interactive["action"]["buttons"]] == [
        "consent:marketing:grant",
        "consent:marketing:withdraw",
    ]


def test_two_purposes_get_one_yes_each_and_one_no(ada_in_window, notices):
    message = send_one_tap_opt_in(contact=ada_in_window, purposes=["marketing", "service"])

    ids = [b["reply"]["id"] for b in message.payload["interactive"]["action"]["buttons"]]
    assert ids == [
        "consent:marketing:grant",
        "consent:service:grant",
        "consent:marketing,service:withdraw",
    ]
    assert message.notice_refs == ["marketing/en/1", "service/en/1"]


def test_outside_the_window_it_sends_the_template_with_quick_replies(ada, notices, settings):
    settings.WHATSAPP_OPT_IN_TEMPLATE = "consent_opt_in"

    message = send_one_tap_opt_in(contact=ada, purposes=["marketing"])

    assert message.kind == OutboundMessage.Kind.TEMPLATE
    template = message.payload["template"]
    assert template["name"] == "consent_opt_in"
    assert template["components"][0]["parameters"][0]["text"] == notices["marketing"].text
    assert [c["parameters"][0]["payload"] for c in template["components"][1:]] == [
        "consent:marketing:grant",
        "consent:marketing:withdraw",
    ]
    assert message.notice_refs == ["marketing/en/1"]


def test_it_speaks_the_contacts_language_when_a_notice_exists(ada_in_window, notices):
    ada_in_window.language = "es"
    ada_in_window.save()
    NoticeFactory(purpose="marketing", language="es", version=1)

    message = send_one_tap_opt_in(contact=ada_in_window, purposes=["marketing"])

    assert message.notice_refs == ["marketing/es/1"]
    titles = [b["reply"]["title"] for b in message.payload["interactive"]["action"]["buttons"]]
    assert titles == ["Sí, acepto", "No, gracias"]


def test_no_published_wording_means_no_question(ada_in_window):
    with pytest.raises(NoNoticeToShow):
        send_one_tap_opt_in(contact=ada_in_window, purposes=["marketing"])


def test_a_confirmation_is_a_short_text(ada_in_window):
    message = send_confirmation_text(contact=ada_in_window, body="Saved.")

    assert message.payload["text"]["body"] == "Saved."
    assert message.contact_id == ada_in_window.pk
