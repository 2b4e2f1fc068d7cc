"""What staff type with an opt-out stays visible: the contact's timeline, the event page and
the staff audit list; internal or empty fields stay out of the way."""

import pytest
from django.urls import reverse

from consent.models import ConsentEvent
from consent.rules import Action, Source
from consent.services import Evidence
from tests.consent_helpers import record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db
REASON = "Asked in store to stop offers"


@pytest.fixture
def opted_out_in_the_admin(staff_client):
    contact = ContactFactory(name="Ada")
    record(contact, Action.GRANT, source=Source.WEB_FORM)
    response = staff_client.post(
        reverse("admin:contacts_contact_record_opt_out", args=[contact.pk]),
        {"opt_out-purposes": ["marketing"], "opt_out-reason": REASON, "opt_out-confirm": "on"},
    )
    assert response.status_code == 302
    return contact


def test_the_timeline_shows_the_reason_and_who_recorded_it(staff_client, opted_out_in_the_admin):
    page = staff_client.get(
        reverse("admin:contacts_contact_change", args=[opted_out_in_the_admin.pk])
    ).content.decode()

    assert REASON in page
    assert "boss" in page


def test_the_event_page_shows_reason_and_user_and_hides_empty_fields(
    staff_client, opted_out_in_the_admin
):
    event = ConsentEvent.objects.get(contact=opted_out_in_the_admin, action=Action.WITHDRAW)

    page = staff_client.get(
        reverse("admin:consent_consentevent_change", args=[event.pk])
    ).content.decode()

    assert REASON in page and "boss" in page
    assert "Context" not in page and "System context" not in page
    assert "wamid" not in page.lower().replace("whatsapp message", "")


def test_a_whatsapp_answer_names_its_message_in_words(staff_client):
    contact = ContactFactory()
    record(contact, Action.GRANT, source=Source.WEB_FORM)
    event = record(
        contact,
        Action.WITHDRAW,
        source=Source.WHATSAPP_BUTTON,
        evidence=Evidence(wamid="wamid.IN1", prompted_by_wamid="wamid.OUT1"),
    )

    page = staff_client.get(
        reverse("admin:consent_consentevent_change", args=[event.pk])
    ).content.decode()

    assert "Prompted by WhatsApp message" in page and "wamid.OUT1" in page


def test_the_staff_audit_list_shows_the_reason(staff_client, opted_out_in_the_admin):
    page = staff_client.get(reverse("admin:staff_auditentry_changelist")).content.decode()

    assert f"reason: {REASON}" in page
