"""The contact page's actions: record an opt-out with a reason, pause, the preference link,
erase (compliance only), each written to the ledger (and the staff audit) by the services."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from consent.models import ConsentEvent
from consent.rules import Action, Source, Status
from consent.selectors import consent_states
from contacts.models import Contact
from staff.models import AuditEntry
from staff.roles import sync_roles
from tests.consent_helpers import record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def staff(role: str) -> Client:
    sync_roles()
    user = get_user_model().objects.create_user(role.lower(), password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


def url(name: str, contact: Contact) -> str:
    return reverse(f"admin:contacts_contact_{name}", args=[contact.pk])


def test_recording_an_opt_out_needs_purpose_reason_and_confirmation(staff_client):
    contact = ContactFactory()
    record(contact, Action.GRANT)

    refused = staff_client.post(
        url("record_opt_out", contact), {"opt_out-purposes": ["marketing"]}, follow=True
    )
    assert b"Nothing recorded" in refused.content
    assert not ConsentEvent.objects.filter(action=Action.WITHDRAW).exists()

    staff_client.post(
        url("record_opt_out", contact),
        {
            "opt_out-purposes": ["marketing", "service"],
            "opt_out-reason": "Asked on the phone to stop",
            "opt_out-confirm": "on",
        },
    )

    states = consent_states(contact)
    assert states["marketing"].status == Status.OPTED_OUT
    assert states["service"].status == Status.OPTED_OUT
    withdraw = ConsentEvent.objects.filter(contact=contact, action=Action.WITHDRAW).first()
    assert withdraw.source == Source.ADMIN and withdraw.actor == staff_client.user
    assert withdraw.personal_evidence.note == "Asked on the phone to stop"
    assert AuditEntry.objects.filter(action="record_opt_out").count() == 2


def test_pause_marketing_from_the_contact_page(staff_client):
    contact = ContactFactory()
    record(contact, Action.GRANT)

    staff_client.post(url("pause", contact), {"pause-weeks": "4"})

    assert consent_states(contact)["marketing"].status == Status.PAUSED
    [audit] = AuditEntry.objects.filter(action="pause_marketing")
    assert audit.actor_user == staff_client.user


def test_pausing_someone_who_opted_out_is_refused_with_a_message(staff_client):
    contact = ContactFactory()
    record(contact, Action.WITHDRAW)

    page = staff_client.post(url("pause", contact), {"pause-weeks": "4"}, follow=True)

    assert b"Not paused" in page.content
    assert consent_states(contact)["marketing"].status == Status.OPTED_OUT


def test_the_page_shows_the_preference_link_with_a_copy_button(staff_client):
    contact = ContactFactory()
    page = staff_client.get(url("change", contact)).content.decode()
    assert 'id="preference-link"' in page and "/preferences/" in page
    assert 'data-copy-target="preference-link"' in page


def test_only_compliance_may_erase_and_only_when_confirmed():
    contact = ContactFactory()
    marketing, compliance = staff("Marketing"), staff("Compliance")

    assert "Erase (right to erasure)" not in marketing.get(url("change", contact)).content.decode()
    assert marketing.post(url("erase", contact), {"erase-confirm": "on"}).status_code == 403
    compliance.post(url("erase", contact), {})
    assert Contact.objects.get(pk=contact.pk).erased_at is None

    compliance.post(url("erase", contact), {"erase-confirm": "on"})

    assert Contact.objects.get(pk=contact.pk).erased_at is not None


def test_actions_answer_405_to_a_get_and_404_for_an_unknown_contact(staff_client):
    contact = ContactFactory()
    assert staff_client.get(url("pause", contact)).status_code == 405
    missing = reverse("admin:contacts_contact_pause", args=["00000000-0000-0000-0000-000000000000"])
    assert staff_client.post(missing, {"pause-weeks": "4"}).status_code == 404


def test_staff_send_the_preference_link_on_whatsapp_as_a_service_message(staff_client):
    from whatsapp.models import OutboundMessage

    contact = ContactFactory(language="es")
    record(contact, Action.GRANT, "service")

    page = staff_client.post(url("send_link", contact), follow=True)

    assert b"Preference link queued" in page.content
    [row] = OutboundMessage.objects.filter(contact_id=contact.pk)
    assert row.purpose == "service"
    # Outside the 24-hour window: the approved template carries the link as its parameter.
    assert row.kind == OutboundMessage.Kind.TEMPLATE
    assert row.payload["template"]["name"] == "preference_link"
    assert row.payload["template"]["language"]["code"] == "es"
    [parameter] = row.payload["template"]["components"][0]["parameters"]
    assert "/preferences/" in parameter["text"]
    [audit] = AuditEntry.objects.filter(action="send_preference_link")
    assert audit.actor_user == staff_client.user


def test_the_preference_link_is_not_sent_to_someone_who_opted_out_of_service(staff_client):
    from whatsapp.models import OutboundMessage

    contact = ContactFactory()
    record(contact, Action.WITHDRAW, "service")

    page = staff_client.post(url("send_link", contact), follow=True)

    assert b"Link not sent" in page.content
    assert not OutboundMessage.objects.filter(contact_id=contact.pk).exists()
    assert not AuditEntry.objects.filter(action="send_preference_link").exists()
