"""may_send: the send-time question, with every reason it answers."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.rules import Action, Source
from consent.selectors import (
    Reason,
    WhatsAppUserId,
    may_send,
    may_send_contacts,
    may_send_many,
)
from contacts.services import erase_contact
from tests.consent_helpers import record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_opted_in_is_allowed():
    contact = ContactFactory()
    record(contact, Action.GRANT)
    decision = may_send(contact, "marketing")
    assert (decision.allowed, decision.reason) == (True, Reason.OPTED_IN)


def test_nothing_recorded_is_no_consent():
    decision = may_send(ContactFactory(), "marketing")
    assert (decision.allowed, decision.reason) == (False, Reason.NO_CONSENT)


def test_consent_for_one_purpose_does_not_allow_the_other():
    contact = ContactFactory()
    record(contact, Action.GRANT, "service")
    assert may_send(contact, "service").allowed
    assert may_send(contact, "marketing").reason == Reason.NO_CONSENT


def test_pending_double_opt_in_is_not_allowed():
    contact = ContactFactory()
    record(contact, Action.REQUEST, source=Source.WEB_FORM)
    assert may_send(contact, "marketing").reason == Reason.PENDING_CONFIRMATION


def test_opted_out_is_not_allowed():
    contact = ContactFactory()
    record(contact, Action.GRANT)
    record(contact, Action.WITHDRAW)
    decision = may_send(contact, "marketing")
    assert (decision.allowed, decision.reason) == (False, Reason.OPTED_OUT)


def test_paused_until_its_end_then_opted_in_again():
    contact = ContactFactory()
    now = timezone.now()
    until = now + timedelta(weeks=1)
    record(contact, Action.GRANT, at=now - timedelta(days=1))
    record(contact, Action.PAUSE, paused_until=until, at=now)

    paused = may_send(contact, "marketing", at=now + timedelta(days=1))
    after = may_send(contact, "marketing", at=until)

    assert (paused.allowed, paused.reason, paused.until) == (False, Reason.PAUSED, until)
    assert (after.allowed, after.reason) == (True, Reason.OPTED_IN)


class TestLegacyGracePeriod:
    def test_allowed_before_the_deadline_with_its_date(self):
        contact = ContactFactory()
        deadline = timezone.now() + timedelta(days=3)
        record(contact, Action.LEGACY, expires_at=deadline, source=Source.IMPORT)

        decision = may_send(contact, "marketing", at=deadline - timedelta(microseconds=1))

        assert (decision.allowed, decision.reason, decision.expires_at) == (
            True,
            Reason.LEGACY_GRACE_PERIOD,
            deadline,
        )

    def test_not_allowed_from_the_deadline_even_before_the_expiry_task(self):
        contact = ContactFactory()
        deadline = timezone.now() + timedelta(days=3)
        record(contact, Action.LEGACY, expires_at=deadline, source=Source.IMPORT)

        decision = may_send(contact, "marketing", at=deadline)

        assert (decision.allowed, decision.reason) == (False, Reason.LEGACY_EXPIRED)

    def test_expired_after_the_task(self):
        contact = ContactFactory()
        now = timezone.now()
        record(contact, Action.LEGACY, expires_at=now, at=now - timedelta(days=1))
        record(contact, Action.EXPIRE, source=Source.SYSTEM, at=now)
        assert may_send(contact, "marketing").reason == Reason.LEGACY_EXPIRED


def test_unknown_and_invalid_phones_are_answers_not_errors():
    assert may_send("+34612345679", "marketing").reason == Reason.UNKNOWN_CONTACT
    assert may_send("not a phone", "marketing").reason == Reason.INVALID_PHONE


def test_phone_in_any_format_finds_the_contact():
    contact = ContactFactory(phone="+447911123456")
    record(contact, Action.GRANT)
    for typed in ("+447911123456", "07911 123456", "+44 (0)7911-123-456", " 447911123456"):
        assert may_send(typed, "marketing").reason == Reason.OPTED_IN, typed


def test_known_only_by_business_scoped_id():
    contact = ContactFactory(phone=None, wa_id=None, whatsapp_user_id="GB.13491208655302741918")
    record(contact, Action.WITHDRAW)
    assert may_send(WhatsAppUserId("GB.13491208655302741918"), "marketing").reason == (
        Reason.OPTED_OUT
    )


def test_erased_contact_who_opted_out_still_answers_opted_out():
    contact = ContactFactory(phone="+447911123456")
    record(contact, Action.WITHDRAW)

    erase_contact(contact=contact)

    assert may_send("07911 123456", "marketing").reason == Reason.OPTED_OUT


def test_single_decision_is_one_query(django_assert_num_queries):
    contact = ContactFactory()
    record(contact, Action.GRANT)
    with django_assert_num_queries(1):
        may_send(str(contact.phone), "marketing")


def test_bulk_keeps_order_and_uses_constant_queries(django_assert_num_queries):
    opted_in, opted_out = ContactFactory(), ContactFactory()
    record(opted_in, Action.GRANT)
    record(opted_out, Action.WITHDRAW)
    phones = [str(opted_out.phone), "garbage", "+34612345679", str(opted_in.phone)] * 50

    with django_assert_num_queries(1):
        results = may_send_many(phones, "marketing")

    assert [d.reason for _, d in results[:4]] == [
        Reason.OPTED_OUT,
        Reason.INVALID_PHONE,
        Reason.UNKNOWN_CONTACT,
        Reason.OPTED_IN,
    ]
    assert results[1][0] == "garbage" and results[0][0] == str(opted_out.phone)
    assert len(results) == 200


def test_decisions_for_many_contacts_by_id(django_assert_num_queries):
    contacts = ContactFactory.create_batch(5)
    record(contacts[0], Action.GRANT)
    with django_assert_num_queries(1):
        decisions = may_send_contacts([c.pk for c in contacts], "marketing")
    assert decisions[contacts[0].pk].allowed
    assert not any(decisions[c.pk].allowed for c in contacts[1:])


def test_bulk_finds_contacts_typed_in_any_format_with_at_most_two_queries(
    django_assert_max_num_queries,
):
    contact = ContactFactory(phone="+447911123456")
    record(contact, Action.GRANT)
    typed = ["+447911123456", "07911 123456", "+4407911123456", " 447911123456"]

    with django_assert_max_num_queries(2):
        results = may_send_many(typed, "marketing")

    assert [(phone, d.reason) for phone, d in results] == [("+447911123456", Reason.OPTED_IN)] * 4
