"""Ask for a number: Sheena writes to us with a username and no phone (business-scoped
id `US.13491208655302741918` only). Staff send the contact-request template from her
contact page; her tap comes back as a `contacts` message with `origin: contact_request`
(fixtures/contacts_contact_request.json, sources in fixtures/ORIGINS.md, posted signed),
and the number joins her contact through the identity resolver, with its history. Where
the number already belongs to someone who opted out, the opt-out wins. 131062 (a template
type that cannot go to a business-scoped id) fails the request, for staff to read.
"""

import json
from pathlib import Path

import pytest
from django.urls import reverse

from consent.selectors import WhatsAppUserId, consent_states, may_send
from contacts.models import Contact, IdentityChange, LikelyDuplicate
from staff.models import AuditEntry
from tests.consent_helpers import record
from tests.factories import ContactFactory, TemplateFactory
from whatsapp import delivery
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db

USER_ID = "US.13491208655302741918"
NUMBER = "106540352242922"
REPLY = json.loads(
    (Path(__file__).parent / "fixtures" / "contacts_contact_request.json").read_text()
)


@pytest.fixture
def sheena(db, notices):
    contact = ContactFactory(
        phone=None,
        wa_id=None,
        whatsapp_user_id=USER_ID,
        parent_user_id="US.ENT.11815799212886844830",
        username="@realsheenanelson",
        name="Sheena Nelson",
        language="en",
    )
    record(contact, "grant", "service")
    record(contact, "grant", "marketing")
    return contact


@pytest.fixture
def request_template(db):
    return TemplateFactory(name="request_contact_info", language="en_US", category="UTILITY")


def ask(admin_client, contact, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(
            reverse("admin:contacts_contact_ask_number", args=[contact.pk])
        )
    assert response.status_code == 302
    return OutboundMessage.objects.filter(origin__startswith=f"contact_request:{contact.pk}:")


def contact_page(admin_client, contact) -> str:
    url = reverse("admin:contacts_contact_change", args=[contact.pk])
    return admin_client.get(url).content.decode()


def test_staff_ask_her_for_her_number_by_her_business_scoped_id(
    graph, admin_client, admin_user, sheena, request_template, django_capture_on_commit_callbacks
):
    assert "Ask for their number" in contact_page(admin_client, sheena)

    [row] = ask(admin_client, sheena, django_capture_on_commit_callbacks)
    delivery.deliver([row.pk])

    [call] = graph.message_calls()
    assert call.path == f"/v23.0/{NUMBER}/messages"
    assert call.json["recipient"] == USER_ID and "to" not in call.json
    assert call.json["template"]["name"] == "request_contact_info"
    assert call.json["template"]["language"]["code"] == "en_US"
    row.refresh_from_db()
    assert (row.status, row.purpose) == ("accepted", "service")
    entry = AuditEntry.objects.get(action="ask_for_number")
    assert (entry.actor_user, entry.object_id) == (admin_user, str(sheena.pk))


def test_131062_fails_the_request_and_staff_read_why(
    graph, admin_client, sheena, request_template, django_capture_on_commit_callbacks
):
    graph.error(131062, message="Business-scoped user ID recipients are not supported")

    [row] = ask(admin_client, sheena, django_capture_on_commit_callbacks)
    delivery.deliver([row.pk])

    row.refresh_from_db()
    assert (row.status, row.error_code) == ("failed", 131062)
    page = contact_page(admin_client, sheena)
    assert "does not let this template type go to a business-scoped id (131062)" in page


def test_her_shared_number_joins_her_contact_with_its_history(deliver, sheena):
    response = deliver(REPLY)

    assert response.status_code == 200
    sheena.refresh_from_db()
    assert (sheena.phone, sheena.wa_id) == ("+16505551234", "16505551234")
    changes = {
        (c.kind, c.old_value, c.new_value, c.source)
        for c in IdentityChange.objects.filter(contact=sheena)
    }
    assert changes == {
        ("wa_id", "", "16505551234", "contact_request"),
        ("phone", "", "+16505551234", "contact_request"),
    }
    assert set(IdentityChange.objects.values_list("wamid", flat=True)) == {
        REPLY["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    }
    assert may_send("+16505551234", "marketing").allowed


def test_a_number_whose_owner_opted_out_keeps_her_opted_out(deliver, sheena):
    owner = ContactFactory(phone="+16505551234", wa_id="16505551234")
    record(owner, "withdraw", "marketing")

    deliver(REPLY)

    sheena.refresh_from_db()
    assert sheena.phone is None  # the number stays with its record: a likely duplicate
    assert LikelyDuplicate.objects.filter(resolution="pending").count() == 1
    assert consent_states(sheena)["marketing"].status == "opted_out"
    assert may_send(WhatsAppUserId(USER_ID), "marketing").reason == "opted_out"
    assert may_send("+16505551234", "marketing").reason == "opted_out"
    assert IdentityChange.objects.filter(contact=sheena, source="contact_request").exists()


def test_a_contacts_message_shared_of_her_own_accord_changes_nothing(deliver, sheena):
    shared = json.loads(json.dumps(REPLY))
    card = shared["entry"][0]["changes"][0]["value"]["messages"][0]["contacts"][0]
    card["origin"] = "other"

    deliver(shared)

    sheena.refresh_from_db()
    assert sheena.phone is None
    assert not Contact.objects.filter(phone="+16505551234").exists()


def test_a_person_whose_number_we_have_is_not_asked(
    admin_client, ada, request_template, django_capture_on_commit_callbacks
):
    assert "Ask for their number" not in contact_page(admin_client, ada)

    assert not ask(admin_client, ada, django_capture_on_commit_callbacks).exists()
