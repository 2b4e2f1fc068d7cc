import time

import pytest

from consent.models import ConsentEvent
from consent.rules import Action, Source, Status
from consent.selectors import consent_states, may_send
from contacts.models import Contact
from preferences.forms import issued_token
from tests.consent_helpers import record
from tests.factories import ContactFactory, NoticeFactory

pytestmark = pytest.mark.django_db


def opt_in_data(**overrides) -> dict:
    data = {
        "phone": "+447911123456",
        "name": "Grace",
        "language": "en",
        "website": "",
        "issued": issued_token(at=time.time() - 30),
        "notice_marketing": "marketing/en/1",
        "notice_service": "service/en/1",
        "agree_marketing": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_the_form_shows_an_unticked_box_per_purpose_with_the_wording(client, notices):
    response = client.get("/opt-in/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "[en] Yes, send me marketing messages from Demo Shop." in html
    assert "[en] Yes, send me service messages from Demo Shop." in html
    assert 'name="agree_marketing"' in html and 'name="agree_service"' in html
    assert " checked" not in html


def test_ticked_purposes_become_pending_requests_and_a_one_tap_message(
    client, notices, sent_messages, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/opt-in/", opt_in_data(), HTTP_USER_AGENT="Firefox")
    # then
    assert response.status_code == 302 and response["Location"] == "/opt-in/?sent=1"
    contact = Contact.objects.get(phone="+447911123456")
    assert (contact.name, contact.language) == ("Grace", "en")
    event = ConsentEvent.objects.get(contact=contact)
    assert (event.action, event.source, event.notice.ref) == (
        Action.REQUEST,
        Source.WEB_FORM,
        "marketing/en/1",
    )
    assert event.ip == "127.0.0.1" and event.user_agent == "Firefox"
    assert event.page_url == "http://testserver/opt-in/"
    assert consent_states(contact)["marketing"].status == Status.PENDING
    assert consent_states(contact)["service"] is None
    assert not may_send(contact, "marketing").allowed
    assert sent_messages == [("one_tap", contact, ["marketing"])]


def test_after_sending_the_page_says_check_whatsapp(client, notices):
    html = client.get("/opt-in/?sent=1").content.decode()
    assert "Check WhatsApp to confirm" in html


def test_with_no_box_ticked_nothing_is_recorded_and_the_page_says_so(client, notices):
    response = client.post("/opt-in/", opt_in_data(agree_marketing=None))
    assert response.status_code == 400
    assert "You did not tick any box, so nothing was recorded." in response.content.decode()
    assert not Contact.objects.exists()


def test_an_invalid_phone_gets_a_clear_message(client, notices):
    response = client.post("/opt-in/", opt_in_data(phone="12"))
    assert response.status_code == 400
    assert "does not look like a WhatsApp number" in response.content.decode()
    assert not ConsentEvent.objects.exists()


def test_any_phone_format_is_accepted(client, notices):
    client.post("/opt-in/", opt_in_data(phone="07911 123456"))
    assert Contact.objects.filter(phone="+447911123456").exists()


def test_the_honeypot_pretends_success_and_records_nothing(client, notices, sent_messages):
    response = client.post("/opt-in/", opt_in_data(website="https://spam.example"))
    assert response.status_code == 302 and response["Location"] == "/opt-in/?sent=1"
    assert not Contact.objects.exists() and not ConsentEvent.objects.exists()
    assert sent_messages == []


def test_a_form_sent_back_too_fast_records_nothing(client, notices):
    response = client.post("/opt-in/", opt_in_data(issued=issued_token()))
    assert response.status_code == 400
    assert "That was very quick" in response.content.decode()
    assert not ConsentEvent.objects.exists()


def test_a_form_without_a_genuine_issue_time_records_nothing(client, notices):
    response = client.post("/opt-in/", opt_in_data(issued="forged"))
    assert response.status_code == 400
    assert not ConsentEvent.objects.exists()


def test_a_stale_form_records_nothing(client, notices, settings):
    settings.OPTIN_FORM_MAX_AGE_SECONDS = 60
    response = client.post("/opt-in/", opt_in_data(issued=issued_token(at=time.time() - 3600)))
    assert response.status_code == 400
    assert not ConsentEvent.objects.exists()


def test_outdated_wording_is_refused(client, notices):
    NoticeFactory(purpose="marketing", language="en", version=2)
    response = client.post("/opt-in/", opt_in_data())
    assert response.status_code == 400
    assert "The wording has changed" in response.content.decode()


def test_an_existing_contact_keeps_their_name_and_language(client, notices):
    ContactFactory(phone="+447911123456", name="Real Name", language="es")
    client.post("/opt-in/", opt_in_data(name="Someone Else", language="en"))
    contact = Contact.objects.get(phone="+447911123456")
    assert (contact.name, contact.language) == ("Real Name", "es")
    assert consent_states(contact)["marketing"].status == Status.PENDING


def test_someone_already_opted_in_gets_the_same_answer_and_no_change(
    client, notices, sent_messages, django_capture_on_commit_callbacks
):
    contact = ContactFactory(phone="+447911123456")
    record(contact, Action.GRANT, "marketing")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/opt-in/", opt_in_data())
    assert response["Location"] == "/opt-in/?sent=1"
    assert consent_states(contact)["marketing"].status == Status.OPTED_IN
    assert sent_messages == []


def test_both_purposes_can_be_requested_at_once(client, notices):
    client.post("/opt-in/", opt_in_data(agree_service="on"))
    contact = Contact.objects.get(phone="+447911123456")
    assert {s.purpose: s.status for s in contact.consent_states.all()} == {
        "marketing": "pending",
        "service": "pending",
    }


def test_the_form_and_its_wording_follow_the_chosen_language(client, notices):
    html = client.get("/opt-in/?lang=es").content.decode()
    assert "[es] Yes, send me marketing messages from Demo Shop." in html
    client.post("/opt-in/?lang=es", opt_in_data(notice_marketing="marketing/es/1", language="es"))
    event = ConsentEvent.objects.get()
    assert event.notice.ref == "marketing/es/1"


# --- The embeddable variant ----------------------------------------------------------


def test_the_embed_may_be_framed_only_by_the_configured_origins(client, notices, settings):
    settings.OPTIN_EMBED_ORIGINS = ["https://shop.example"]
    response = client.get("/opt-in/embed/")
    assert response.status_code == 200
    assert "X-Frame-Options" not in response
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://shop.example" in csp
    assert "script-src 'self'" in csp


def test_the_normal_form_may_not_be_framed(client, notices):
    response = client.get("/opt-in/")
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_the_embed_records_where_it_was_embedded(client, notices):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        "/opt-in/embed/", opt_in_data(), HTTP_REFERER="https://shop.example/newsletter"
    )
    assert response["Location"] == "/opt-in/embed/?sent=1"
    event = ConsentEvent.objects.get()
    assert event.context["form"] == "embed"
    assert event.context["embedded_in"] == "https://shop.example/newsletter"


def test_the_embed_has_the_honeypot_too(client, notices):
    client.post("/opt-in/embed/", opt_in_data(website="x"))
    assert not ConsentEvent.objects.exists()
