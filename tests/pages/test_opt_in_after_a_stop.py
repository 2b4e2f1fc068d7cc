"""The opt-in form and its embed never message a number that said stop, and never say so.

Anyone can type anyone's number into the form. For a purpose the number opted out of,
nothing is recorded and nothing is sent; the page after the form is the same for every
number, and tells the person how to come back themselves: send START on WhatsApp.
"""

import json
import time

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from consent.models import ConsentEvent
from consent.rules import Action, Status
from consent.selectors import consent_states
from contacts.models import Contact
from contacts.services import erase_contact
from preferences.forms import issued_token
from tests.consent_helpers import record
from tests.factories import ContactFactory
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db

NUMBER = "+447911123456"
START_LINK = "https://wa.me/442079460000?text=START"


@pytest.fixture(autouse=True)
def _business_number(settings):
    settings.WHATSAPP_DISPLAY_PHONE_NUMBER = "+44 20 7946 0000"


def opt_in_data(**overrides) -> dict:
    data = {
        "phone": NUMBER,
        "name": "Someone",
        "language": "en",
        "website": "",
        "issued": issued_token(at=time.time() - 30),
        "notice_marketing": "marketing/en/1",
        "notice_service": "service/en/1",
        "agree_marketing": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def submit(client, django_capture_on_commit_callbacks):
    """POST the form and run what it queued after commit (the outbox's delivery)."""

    def _submit(url: str = "/opt-in/embed/", **overrides):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, opt_in_data(**overrides))

    return _submit


@pytest.fixture
def stopped(notices):
    """A customer who sent STOP (marketing) on WhatsApp."""
    contact = ContactFactory(phone=NUMBER, wa_id="447911123456", name="Ada", language="en")
    record(contact, Action.GRANT, "marketing")
    record(contact, Action.WITHDRAW, "marketing", source="whatsapp_keyword")
    return contact


# --- Nothing sent, nothing changed ------------------------------------------------------


@pytest.mark.parametrize("url", ["/opt-in/embed/", "/opt-in/"])
def test_a_number_that_opted_out_is_sent_nothing_and_stays_opted_out(submit, stopped, url):
    events_before = ConsentEvent.objects.count()

    response = submit(url)

    assert response.status_code == 302 and response["Location"] == f"{url}?sent=1"
    assert consent_states(stopped)["marketing"].status == Status.OPTED_OUT
    assert ConsentEvent.objects.count() == events_before
    assert not OutboundMessage.objects.exists()


def test_a_purpose_not_stopped_is_still_asked_alone(submit, stopped):
    submit(agree_service="on")

    states = consent_states(stopped)
    assert states["marketing"].status == Status.OPTED_OUT
    assert states["service"].status == Status.PENDING
    asked = OutboundMessage.objects.get()
    assert asked.notice_refs == ["service/en/1"]
    assert "consent:service:grant" in json.dumps(asked.payload)
    assert "marketing" not in json.dumps(asked.payload)


def test_a_stop_from_everything_keeps_both_purposes_closed(submit, stopped):
    record(stopped, Action.WITHDRAW, "service", source="whatsapp_keyword")

    submit(agree_service="on")

    assert {p: s.status for p, s in consent_states(stopped).items() if s} == {
        "marketing": Status.OPTED_OUT,
        "service": Status.OPTED_OUT,
    }
    assert not OutboundMessage.objects.exists()


def test_an_erased_number_that_had_stopped_is_not_asked_when_it_comes_back(submit, stopped):
    erase_contact(contact=stopped)

    submit()

    returned = Contact.objects.get(phone=NUMBER)
    assert returned.pk != stopped.pk
    assert consent_states(returned)["marketing"].status == Status.OPTED_OUT
    assert not OutboundMessage.objects.exists()


def test_a_new_number_is_still_asked_on_whatsapp(submit, notices):
    submit()

    contact = Contact.objects.get(phone=NUMBER)
    assert consent_states(contact)["marketing"].status == Status.PENDING
    assert OutboundMessage.objects.get().notice_refs == ["marketing/en/1"]


# --- The same answer for every number ---------------------------------------------------


def _answer_to(client, submit, phone: str) -> tuple[int, str, str]:
    response = submit(phone=phone)
    page = client.get(response["Location"])
    return response.status_code, response["Location"], page.content.decode()


def test_the_answer_does_not_tell_whether_a_number_opted_out(client, submit, stopped):
    record(ContactFactory(phone="+447911123457"), Action.GRANT, "marketing")

    opted_out = _answer_to(client, submit, NUMBER)
    opted_in = _answer_to(client, submit, "+447911123457")
    unknown = _answer_to(client, submit, "+447911123458")

    assert opted_out == opted_in == unknown
    status, _, page = opted_out
    assert status == 302
    assert "If this number can receive messages from Demo Shop" in page


def test_the_page_after_the_form_offers_a_start_link_to_our_number(client, notices):
    page = client.get("/opt-in/?sent=1").content.decode()

    assert "No message after a few minutes?" in page
    assert f'<a class="button" href="{START_LINK}">Send START on WhatsApp</a>' in page


def test_the_embed_opens_the_start_link_outside_its_frame(client, notices):
    page = client.get("/opt-in/embed/?sent=1").content.decode()

    assert f'href="{START_LINK}" target="_blank" rel="noopener noreferrer"' in page


def test_the_start_link_is_in_spanish_too(client, notices):
    page = client.get("/opt-in/?sent=1&lang=es").content.decode()

    assert "Si este número puede recibir mensajes de Demo Shop" in page
    assert f'href="{START_LINK}">Enviar START por WhatsApp</a>' in page


def test_without_our_number_the_page_says_to_send_start_and_links_nowhere(
    client, notices, settings
):
    settings.WHATSAPP_DISPLAY_PHONE_NUMBER = ""

    page = client.get("/opt-in/?sent=1").content.decode()

    assert "Open WhatsApp and send START to Demo Shop: we will ask you there." in page
    assert "wa.me" not in page


def test_a_number_that_is_not_one_makes_no_link_and_fails_the_system_check(
    client, notices, settings
):
    settings.WHATSAPP_DISPLAY_PHONE_NUMBER = "+44 7700 CALLUS"

    page = client.get("/opt-in/?sent=1").content.decode()

    assert "wa.me" not in page
    with pytest.raises(SystemCheckError, match="preferences.E001"):
        call_command("check")


# --- A phone is digits ------------------------------------------------------------------


@pytest.mark.parametrize("phone", ["+44 7911 ABC123", "+44 7911 12345O", "tel:+447911123456"])
def test_a_phone_with_letters_is_refused_on_the_phone_field(submit, notices, phone):
    response = submit(phone=phone)

    assert response.status_code == 400
    html = response.content.decode()
    assert (
        '<p class="error" id="phone-error">'
        "A phone number has only digits, spaces and + ( ) - .</p>" in html
    )
    assert 'aria-invalid="true"' in html
    assert not Contact.objects.exists() and not OutboundMessage.objects.exists()


def test_the_letters_rule_is_said_in_spanish(submit, notices):
    response = submit(url="/opt-in/?lang=es", phone="+44 7911 ABC123")

    assert "Un número de teléfono solo lleva cifras, espacios y + ( ) - ." in (
        response.content.decode()
    )
