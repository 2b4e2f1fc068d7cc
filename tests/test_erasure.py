"""Erasure (GDPR art. 17): the person is forgotten, the proof and the suppression stay."""

import pytest

from consent.chain import check_chain
from consent.rules import Action, Source
from consent.selectors import Reason, may_send
from contacts.models import Erasure
from contacts.services import erase_person, replay_erasures, upsert_contact
from tests.consent_helpers import record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_erasure_pseudonymises_and_keeps_the_ledger():
    contact = ContactFactory(phone="+447911123456", name="Ada", external_id="crm-1")
    record(contact, Action.GRANT)

    erase_person(contact=contact, erased_by="dpo")

    contact.refresh_from_db()
    assert (contact.phone, contact.name, contact.external_id, contact.wa_id) == (
        None,
        "",
        None,
        None,
    )
    assert contact.erased_at and contact.phone_hash
    assert check_chain(contact.pk).valid
    assert Erasure.objects.get(contact_id=contact.pk).erased_by == "dpo"


def test_an_erased_person_who_had_opted_in_is_no_longer_sent_to():
    contact = ContactFactory(phone="+447911123456")
    record(contact, Action.GRANT)
    record(contact, Action.GRANT, "service")

    erase_person(contact=contact)

    for purpose in ("marketing", "service", "calls"):
        assert may_send("+447911123456", purpose).reason == Reason.OPTED_OUT
    withdrawals = contact.consent_events.filter(action=Action.WITHDRAW, source=Source.SYSTEM)
    assert withdrawals.count() == 3


def test_an_erased_number_that_comes_back_is_a_new_contact_still_opted_out():
    contact = ContactFactory(phone="+447911123456")
    record(contact, Action.WITHDRAW)
    erase_person(contact=contact)

    again, created = upsert_contact(phone="07911 123456", name="Ada again")

    assert created and again.pk != contact.pk
    assert may_send(again, "marketing").reason == Reason.OPTED_OUT
    contact.refresh_from_db()
    assert contact.erased_at is not None and contact.name == ""


def test_an_existing_opt_out_is_not_recorded_twice():
    contact = ContactFactory()
    record(contact, Action.WITHDRAW)
    erase_person(contact=contact)
    assert contact.consent_events.filter(purpose="marketing").count() == 1


def test_erasures_replay_after_a_restore():
    contact = ContactFactory(phone="+447911123456", name="Ada")
    erase_person(contact=contact)
    # A backup restored from before the erasure brings the name back.
    type(contact).objects.filter(pk=contact.pk).update(
        erased_at=None, name="Ada", phone="+447911123456"
    )

    assert replay_erasures() == 1

    contact.refresh_from_db()
    assert contact.erased_at is not None and contact.name == "" and contact.phone is None
