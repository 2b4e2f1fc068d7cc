"""A contact's phone is its identity: the service refuses another one, the admin shows it
read-only, and an upsert that races another finds the contact it created."""

import pytest
from django.db import IntegrityError
from django.urls import reverse

from contacts import services
from contacts.exceptions import IdentifierTaken, PhoneNeverChanges
from contacts.services import update_contact, upsert_contact
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_the_service_refuses_another_phone():
    contact = ContactFactory(phone="+447911123456")

    with pytest.raises(PhoneNeverChanges) as refused:
        update_contact(contact=contact, phone="+447911000000", name="Ada")

    assert (refused.value.code, refused.value.field) == ("read_only", "phone")
    contact.refresh_from_db()
    assert contact.phone == "+447911123456" and contact.name != "Ada"


def test_the_same_phone_in_another_format_is_no_change():
    contact = ContactFactory(phone="+447911123456")

    update_contact(contact=contact, phone="07911 123456", name="Ada")

    contact.refresh_from_db()
    assert (contact.phone, contact.name) == ("+447911123456", "Ada")


def test_the_admin_shows_the_phone_without_a_field_to_edit_it(staff_client):
    contact = ContactFactory(phone="+447911123456")
    url = reverse("admin:contacts_contact_change", args=[contact.pk])

    page = staff_client.get(url)

    assert page.status_code == 200
    assert 'name="phone"' not in page.content.decode()
    assert "+447911123456" in page.content.decode()


def test_an_upsert_that_loses_a_race_finds_the_contact_the_other_created(monkeypatch):
    real_upsert = services._upsert_once
    calls = []

    def racing(**fields):
        calls.append(fields["phone"])
        if len(calls) == 1:
            ContactFactory(phone=fields["phone"], name="created meanwhile")
            raise IntegrityError("duplicate key value violates unique constraint")
        return real_upsert(**fields)

    monkeypatch.setattr(services, "_upsert_once", racing)

    contact, created = upsert_contact(phone="+447911123456", name="Ada")

    assert not created and contact.name == "Ada" and len(calls) == 2


def test_an_external_id_held_by_another_contact_is_refused_naming_the_field():
    ContactFactory(external_id="crm-42")

    with pytest.raises(IdentifierTaken) as refused:
        upsert_contact(phone="+447911123456", external_id="crm-42")

    assert (refused.value.code, refused.value.field) == ("unique", "external_id")
