"""Erasure (GDPR art. 17): the person is forgotten, the proof and the suppression stay."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from consent.chain import check_chain
from consent.rules import Action, Source
from consent.selectors import Reason, may_send
from contacts.models import Erasure, IdentityChange
from contacts.services import erase_person, mark_merged, replay_erasures, upsert_contact
from conversation.models import OptOutReview
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


def test_erasure_blanks_the_identifier_history_but_keeps_what_happened():
    contact = ContactFactory(phone="+447911123456")
    survivor = ContactFactory()
    IdentityChange.objects.create(
        contact=contact,
        kind=IdentityChange.Kind.PHONE,
        old_value="+447911000001",
        new_value="+447911123456",
        source="user_changed_number",
        wamid="wamid.HBgM",
        occurred_at=timezone.now(),
    )
    mark_merged(duplicate=contact, survivor=survivor, merged_by="staff")

    erase_person(contact=contact)

    changes = {c.kind: c for c in IdentityChange.objects.filter(contact=contact)}
    phone = changes[IdentityChange.Kind.PHONE]
    assert (phone.old_value, phone.new_value, phone.wamid) == ("", "", "")
    assert phone.source == "user_changed_number"
    merged = changes[IdentityChange.Kind.MERGED]
    assert merged.new_value == str(survivor.pk)


def test_erasure_blanks_the_words_held_for_review_and_keeps_the_decision():
    contact = ContactFactory(phone="+447911123456")
    review = OptOutReview.objects.create(
        contact=contact,
        wamid="wamid.review-1",
        text="please no more, this is Ada from 12 Mill Lane",
        matched="no more",
        received_at=timezone.now(),
        decision=OptOutReview.Decision.DISMISSED,
    )

    erase_person(contact=contact)

    review.refresh_from_db()
    assert (review.text, review.matched) == ("", "")
    assert review.decision == OptOutReview.Decision.DISMISSED


def test_a_replayed_erasure_is_the_whole_erasure():
    contact = ContactFactory(phone="+447911123456", name="Ada")
    record(contact, Action.GRANT)
    erase_person(contact=contact, erased_by="dpo")
    # A restore from before the erasure: the person, their grant and their words are back.
    type(contact).objects.filter(pk=contact.pk).update(
        erased_at=None, name="Ada", phone="+447911123456"
    )
    OptOutReview.objects.create(
        contact=contact, wamid="wamid.r", text="Ada here", received_at=timezone.now()
    )

    out = StringIO()
    call_command("replay_erasures", stdout=out)

    assert out.getvalue().strip() == "erased again: 1 contact"
    contact.refresh_from_db()
    assert contact.erased_at is not None and contact.name == "" and contact.phone is None
    assert OptOutReview.objects.get(wamid="wamid.r").text == ""
    assert may_send("+447911123456", "marketing").reason == Reason.OPTED_OUT
    assert check_chain(contact.pk).valid
