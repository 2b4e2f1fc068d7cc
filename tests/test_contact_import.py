"""Importing contacts: legacy consent only, never overriding a newer answer, errors named."""

from datetime import timedelta

import pytest
import tablib
from django.utils import timezone

from consent.imports import ContactImport
from consent.models import ConsentEvent, ConsentState
from consent.rules import Action, Source, Status
from contacts.models import Contact
from tests.consent_helpers import record
from tests.factories import ContactFactory, PolicyFactory

pytestmark = pytest.mark.django_db
HEADERS = [
    "phone",
    "name",
    "language",
    "external_id",
    "tags",
    "marketing",
    "service",
    "consented_at",
    "note",
]


def run_import(*rows, dry_run=False):
    data = tablib.Dataset(*rows, headers=HEADERS)
    return ContactImport().import_data(data, dry_run=dry_run, raise_errors=False)


def status(contact, purpose="marketing"):
    state = ConsentState.objects.filter(contact=contact, purpose=purpose).first()
    return state.status if state else Status.NONE


def test_import_creates_contacts_with_legacy_consent_until_the_policy_deadline():
    policy = PolicyFactory()

    result = run_import(
        ("07911 123456", "Ada", "en", "crm-1", "vip,old", "legacy", "", "2023-05-01", "old CRM"),
    )

    assert not result.has_errors() and not result.has_validation_errors()
    ada = Contact.objects.get(external_id="crm-1")
    assert str(ada.phone) == "+447911123456"
    assert set(ada.tags.values_list("name", flat=True)) == {"vip", "old"}
    event = ConsentEvent.objects.get(contact=ada)
    assert (event.action, event.source, event.expires_at) == (
        Action.LEGACY,
        Source.IMPORT,
        policy.deadline,
    )
    assert event.occurred_at.date().isoformat() == "2023-05-01" and event.note == "old CRM"
    assert status(ada) == Status.LEGACY and status(ada, "service") == Status.NONE


def test_import_never_opts_anyone_in():
    PolicyFactory()
    result = run_import(("+447911123456", "Ada", "en", "", "", "opted_in", "", "", ""))
    assert result.has_validation_errors()
    assert "marketing" in result.invalid_rows[0].field_specific_errors
    assert not ConsentEvent.objects.exists()


def test_reimport_never_wipes_an_opt_out():
    PolicyFactory()
    contact = ContactFactory(phone="+447911123456")
    record(contact, Action.WITHDRAW)

    run_import(("+447911123456", "", "", "", "", "legacy", "", "2022-01-01", ""))

    assert status(contact) == Status.OPTED_OUT
    kept = ConsentEvent.objects.get(contact=contact, action=Action.LEGACY)
    assert kept.applied is False


def test_an_import_older_than_the_latest_answer_changes_nothing():
    PolicyFactory()
    contact = ContactFactory(phone="+447911123456")
    record(contact, Action.LEGACY, expires_at=timezone.now() + timedelta(days=5))

    run_import(("+447911123456", "", "", "", "", "legacy", "", "2001-01-01", ""))

    assert ConsentEvent.objects.filter(contact=contact, applied=False).count() == 1


def test_empty_cells_leave_known_fields_untouched():
    contact = ContactFactory(phone="+447911123456", name="Ada", language="es")
    run_import(("+447911123456", "", "", "", "", "", "", "", ""))
    contact.refresh_from_db()
    assert (contact.name, contact.language) == ("Ada", "es")


def test_bad_rows_name_the_field_and_nothing_is_written():
    PolicyFactory()
    result = run_import(
        ("+447911123456", "Good", "en", "", "", "legacy", "", "", ""),
        ("not-a-phone", "Bad", "en", "", "", "", "", "", ""),
        ("+447911123457", "Bad date", "en", "", "", "legacy", "", "31/31/2020", ""),
    )

    errors = {row.number: row.field_specific_errors for row in result.invalid_rows}
    assert "phone" in errors[2] and "consented_at" in errors[3]
    assert not Contact.objects.exists() and not ConsentEvent.objects.exists()


def test_legacy_without_an_active_policy_is_an_error_on_the_column():
    result = run_import(("+447911123456", "Ada", "en", "", "", "legacy", "", "", ""))
    assert result.has_validation_errors() or result.has_errors()
    assert not ConsentEvent.objects.exists()


def test_import_page_renders_in_the_admin(staff_client):
    page = staff_client.get("/admin/contacts/contact/import/")
    assert page.status_code == 200
