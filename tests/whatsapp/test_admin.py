"""Admin pages of the WhatsApp channel and the keyword lists."""

import pytest
from django.contrib import admin
from django.utils import timezone

from conversation.models import ConsentKeyword
from tests.whatsapp.helpers import load_payload, with_message
from whatsapp import messages
from whatsapp.addressing import Address
from whatsapp.models import InboundEvent, OutboundMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def some_traffic(deliver, ada, notices):
    deliver(load_payload("status_delivered"))
    deliver(with_message("text_stop", at=timezone.now()))
    deliver(with_message("text_stop", at=timezone.now(), id="wamid.MAYBE", body="bus stop?"))


@pytest.mark.parametrize(
    "url",
    [
        "/admin/whatsapp/inboundevent/",
        "/admin/whatsapp/inboundevent/?state__exact=failed",
        "/admin/whatsapp/inboundevent/?q=wamid.MAYBE",
        "/admin/whatsapp/outboundmessage/",
        "/admin/whatsapp/outboundmessage/?q=447911123456",
        "/admin/whatsapp/servicewindow/",
        "/admin/conversation/consentkeyword/?language=de",
        "/admin/conversation/consentkeyword/?q=stop",
        "/admin/conversation/optoutreview/",
        "/admin/conversation/consentkeyword/add/",
    ],
)
def test_list_pages_render(staff_client, some_traffic, url):
    assert staff_client.get(url).status_code == 200


def test_an_inbound_event_shows_its_payload_read_only(staff_client, some_traffic):
    row = InboundEvent.objects.filter(kind="status").get()

    response = staff_client.get(f"/admin/whatsapp/inboundevent/{row.pk}/change/")

    assert response.status_code == 200
    assert b"wamid.OUTBOUND-CAMPAIGN" in response.content
    assert staff_client.get("/admin/whatsapp/inboundevent/add/").status_code == 403


def test_staff_can_add_a_keyword(staff_client):
    response = staff_client.post(
        "/admin/conversation/consentkeyword/add/",
        {"phrase": "Ça suffit", "language": "fr", "meaning": "stop", "active": "on"},
    )

    assert response.status_code == 302
    assert ConsentKeyword.objects.filter(language="fr", phrase="ca suffit").exists()


def test_outbox_payloads_read_as_the_person_sees_them():
    address = Address("to", "447911123456")
    template = messages.template(address, "spring_offer", "es", ["Ada", "15%"], ["stop"])
    buttons = messages.buttons(address, "Keep getting offers?", [("yes", "Yes"), ("no", "No")])

    assert messages.as_seen(template) == {
        "kind": "template",
        "template": "spring_offer",
        "language": "es",
        "params": ["Ada", "15%"],
        "quick_replies": 1,
    }
    assert messages.as_seen(buttons)["buttons"] == ["Yes", "No"]
    assert messages.as_seen(messages.text(address, "Done."))["text"] == "Done."
    assert messages.as_seen({"odd": True}) == {"kind": "unknown"}


def test_the_outbox_page_draws_the_payload_as_a_chat_bubble():
    payload = messages.template(Address("to", "447911123456"), "spring", "en", ["Ada", "15%"])
    drawn = admin.site._registry[OutboundMessage].as_seen(OutboundMessage(payload=payload))

    assert "Template <strong>spring</strong> (en)" in drawn
    assert "<li><code>{{2}}</code> 15%</li>" in drawn
