"""The printable consent record says what was verified: the chain now, and its seal."""

from datetime import date

import pytest

from consent.rules import Action, Source
from consent.seals import seal_ledger
from tests.consent_helpers import record
from tests.ledger_tampering import truncate_chain

pytestmark = pytest.mark.django_db


@pytest.fixture
def sealed(contact):
    record(contact, Action.GRANT, "marketing", source=Source.WEB_FORM)
    record(contact, Action.WITHDRAW, "marketing", source=Source.WHATSAPP_KEYWORD)
    return seal_ledger(on=date(2026, 11, 30))


def test_a_sealed_record_shows_its_chain_and_seal_verified(client, page, sealed):
    html = client.get(f"{page}record/").content.decode()

    assert "this record has not been altered" in html
    assert "2 entries, each linked to the one before it, checked just now." in html
    assert "your record up to entry 2 is in our ledger seal of" in html
    assert sealed.hash in html


def test_entries_after_the_seal_are_still_shown_as_sealed_up_to_it(client, page, contact, sealed):
    record(contact, Action.GRANT, "marketing", source=Source.WEB_FORM)

    html = client.get(f"{page}record/").content.decode()

    assert "3 entries" in html and "up to entry 2" in html


def test_a_record_truncated_after_its_seal_says_the_seal_check_failed(
    client, page, contact, sealed
):
    truncate_chain(contact.pk, keep=1)

    html = client.get(f"{page}record/").content.decode()

    assert "Seal check failed" in html
    assert "Please contact us" in html


def test_a_record_newer_than_the_last_seal_says_the_next_one_includes_it(client, page, contact):
    seal_ledger(on=date(2026, 11, 30))
    record(contact, Action.GRANT, "marketing", source=Source.WEB_FORM)

    html = client.get(f"{page}record/").content.decode()

    assert "the next seal will include it" in html


def test_the_verification_is_in_the_persons_language(client, page, contact, sealed):
    contact.language = "es"
    contact.save()

    html = client.get(f"{page}record/").content.decode()

    assert "Verificación" in html
    assert "2 entradas, cada una enlazada con la anterior" in html
    assert "tu registro hasta la entrada 2" in html
