"""Phones: any national or international format in, E.164 out; invalid ones named."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from hypothesis import given
from hypothesis import strategies as st

from contacts.models import Contact
from contacts.phones import PHONE_CHARACTERS, InvalidPhone, NotPhoneCharacters, normalize_phone
from contacts.services import upsert_contact
from tests.factories import ContactFactory


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("+447911123456", "+447911123456"),
        ("07911 123456", "+447911123456"),  # national, DEFAULT_PHONE_REGION=GB
        ("+44 (0)7911-123-456", "+447911123456"),
        ("0044 7911 123456", "+447911123456"),
        (" 447911123456", "+447911123456"),  # an unencoded '+' read as a space
        ("+34 612 34 56 78", "+34612345678"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("+55 11 96123-4567", "+5511961234567"),
        ("+91 98765 43210", "+919876543210"),
    ],
)
def test_formats_are_normalised_to_e164(typed, e164):
    assert normalize_phone(typed) == e164


@pytest.mark.parametrize(
    "typed", ["", "   ", "hello", "+44", "+4479111234567890", "12", "+999 123", None, 447911123456]
)
def test_invalid_numbers_raise_naming_the_field(typed):
    with pytest.raises(InvalidPhone) as err:
        normalize_phone(typed)
    assert "phone" in err.value.message_dict


@pytest.mark.parametrize(
    "typed",
    [
        "+44 7911 ABC123",  # phonenumbers reads the keypad letters: +447911222123
        "+44 7911 12345O",  # a letter O for a zero
        "1-800-FLOWERS",
        "+44 7911 123456 ext. 2",
        "+44 7911 123456 x2",
        "tel:+447911123456",
        "+44*7911123456",
        "+44 7911 123456;",
        "+44 [7911] 123456",
    ],
)
def test_a_phone_with_letters_or_other_signs_is_refused_not_guessed_at(typed):
    with pytest.raises(NotPhoneCharacters) as err:
        normalize_phone(typed)
    assert err.value.message_dict == {
        "phone": [f"{typed!r} is not a valid phone number. {PHONE_CHARACTERS}"]
    }
    assert PHONE_CHARACTERS == "A phone number has only digits, spaces and + ( ) - ."


@pytest.mark.parametrize(
    "typed",
    [
        "+44\u00a07911\u00a0123456",  # no-break spaces, as pasted from a web page
        "+44 7911\u2013123456",  # an en dash
        "\uff0b\uff14\uff14 \uff17\uff19\uff11\uff11 \uff11\uff12\uff13\uff14\uff15\uff16",
        "+44.7911.123.456",
    ],
)
def test_digits_spaces_and_dashes_as_people_paste_them_are_still_read(typed):
    assert normalize_phone(typed) == "+447911123456"


def test_national_format_uses_the_configured_region(settings):
    settings.DEFAULT_PHONE_REGION = "ES"
    assert normalize_phone("612 34 56 78") == "+34612345678"


@given(st.text(max_size=60))
def test_arbitrary_text_is_a_phone_or_a_clear_error(text):
    try:
        assert normalize_phone(text).startswith("+")
    except InvalidPhone as err:
        assert err.field == "phone"


@pytest.mark.django_db
class TestContactModel:
    def test_model_validation_names_the_phone_field(self):
        with pytest.raises(ValidationError) as err:
            Contact(phone="not a phone").full_clean()
        assert "phone" in err.value.message_dict

    def test_saving_an_invalid_phone_is_refused(self):
        with pytest.raises(ValidationError):
            Contact(phone="+44 123").save()
        assert not Contact.objects.exists()

    def test_phone_is_stored_in_e164(self):
        contact, created = upsert_contact(phone="07911 123456", name="Ada")
        assert created and str(Contact.objects.get(pk=contact.pk).phone) == "+447911123456"

    def test_upsert_finds_the_same_contact_in_another_format(self):
        first, _ = upsert_contact(phone="+447911123456", name="Ada")
        again, created = upsert_contact(phone="07911 123456", language="es")
        assert (again.pk, created, again.name, again.language) == (first.pk, False, "Ada", "es")

    def test_a_contact_needs_a_phone_or_a_business_scoped_id(self):
        with pytest.raises(IntegrityError):
            Contact.objects.create(phone=None, whatsapp_user_id=None, name="nobody")

    def test_a_username_user_without_a_phone_is_a_contact(self):
        contact = Contact.objects.create(whatsapp_user_id="GB.1349120865530274")
        assert contact.phone is None and contact.phone_hash is None

    def test_phone_and_ids_are_unique_when_set(self):
        ContactFactory(phone="+447911123456", external_id="crm-1")
        with pytest.raises(IntegrityError):
            ContactFactory(phone="+447911123457", external_id="crm-1")

    def test_blank_ids_are_stored_as_null_and_do_not_collide(self):
        a = ContactFactory(external_id="", wa_id="")
        b = ContactFactory(external_id="", wa_id="")
        assert a.external_id is None and b.external_id is None
