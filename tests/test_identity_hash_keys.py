"""The suppression list survives key changes; the key is required in production."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from config.checks import phone_hash_key_in_production
from consent.rules import Action
from consent.selectors import Reason, WhatsAppUserId, may_send
from contacts.models import Suppression
from contacts.phones import hash_key_version
from contacts.selectors import Identifiers
from contacts.services import erase_person, resolve_or_create_contacts
from tests.consent_helpers import record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

PHONES = ["+447911123456", "+447911123457", "+33612345678"]


def test_the_key_is_required_when_debug_is_off(settings):
    settings.DEBUG, settings.PHONE_HASH_KEY = False, ""
    assert [e.id for e in phone_hash_key_in_production()] == ["config.E010"]
    settings.PHONE_HASH_KEY = "a-real-secret"
    assert phone_hash_key_in_production() == []


def test_a_changed_key_without_rotation_is_refused_not_silently_forgotten(settings):
    settings.PHONE_HASH_NEXT_KEY = settings.PHONE_HASH_KEY
    with pytest.raises(CommandError, match="differ"):
        call_command("rotate_identity_hash_key", stdout=StringIO())


def test_rotation_keeps_every_erased_number_suppressed(settings):
    # given erased people, one of whom had only ever opted in
    for n, phone in enumerate(PHONES):
        contact = ContactFactory(
            phone=phone, wa_id=phone.lstrip("+"), whatsapp_user_id=f"GB.bsuid.{n}"
        )
        record(contact, Action.GRANT if n == 0 else Action.WITHDRAW)
        erase_person(contact=contact)
    live = ContactFactory(phone="+447911123999")
    old_key = settings.PHONE_HASH_KEY

    # when the key is rotated, then the new settings deployed
    settings.PHONE_HASH_NEXT_KEY = "the-next-key"
    call_command("rotate_identity_hash_key", stdout=StringIO())
    settings.PHONE_HASH_PREVIOUS_KEYS, settings.PHONE_HASH_KEY = [old_key], "the-next-key"

    # then every identifier of every erased person still answers opted out
    assert hash_key_version() == 2
    assert set(Suppression.objects.values_list("key_version", flat=True)) == {2}
    for n, phone in enumerate(PHONES):
        assert may_send(phone, "marketing").reason == Reason.OPTED_OUT
        assert may_send(WhatsAppUserId(f"GB.bsuid.{n}"), "marketing").reason == (Reason.OPTED_OUT)
        again = resolve_or_create_contacts(Identifiers(wa_id=phone.lstrip("+"))).primary
        assert may_send(again, "service").reason == Reason.OPTED_OUT
    # and a live contact is still found by its phone
    assert resolve_or_create_contacts(Identifiers(phone="+447911123999")).primary.pk == live.pk


def test_manage_check_fails_in_production_without_a_phone_hash_key():
    from tests.test_project import run_manage

    result = run_manage(
        "check",
        DEBUG="false",
        SECRET_KEY="a-real-secret-" + "x9Kq2" * 12,
        ALLOWED_HOSTS="crm.example.com",
        WHATSAPP_APP_SECRET="app-secret",
        WHATSAPP_VERIFY_TOKEN="verify-token",
        PHONE_HASH_KEY="",
    )
    assert result.returncode != 0
    assert "config.E010" in result.stdout + result.stderr
