"""Topic answers are ledger events: chained (form 3), weighed by the ordering rule, projected
to a state per topic, and a purpose's withdrawal withdraws every topic under it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.chain import check_chain
from consent.exceptions import InvalidConsent
from consent.models import ConsentEvent, ConsentState, OutrankedOptOut, TopicState
from consent.rules import Action, Status
from consent.selectors import Reason, may_send_topic, may_send_topic_many
from consent.services import (
    PurposeNotGranted,
    rebuild_contact_states,
    record_opt_out,
    resolve_outranked_opt_out,
    retire_topic,
)
from consent.verification import rebuild_states, verify_ledger
from tests.consent_helpers import notice_for, record
from tests.factories import ContactFactory, PolicyFactory, TopicFactory, TopicNoticeFactory
from tests.ledger_tampering import tamper
from tests.topics.helpers import answer_topic

pytestmark = pytest.mark.django_db


def topic_status(contact, topic) -> str:
    state = TopicState.objects.filter(contact=contact, topic=topic).first()
    return state.status if state else Status.NONE


class TestGrantingATopic:
    def test_a_grant_needs_the_purpose_opted_in(self, offers):
        contact = ContactFactory()

        with pytest.raises(PurposeNotGranted) as refused:
            answer_topic(contact, offers, Action.GRANT)

        assert (refused.value.field, refused.value.conflict) == ("topic", True)
        assert refused.value.extra() == {"current_status": "none"}
        assert not ConsentEvent.objects.filter(contact=contact).exists()

    def test_a_grant_under_an_opted_in_purpose_is_chained_and_projected(self, offers):
        contact = ContactFactory()
        record(contact, Action.GRANT)

        event = answer_topic(contact, offers, Action.GRANT)

        assert (event.purpose, event.topic, event.form, event.seq) == ("marketing", "offers", 3, 2)
        assert event.notice.ref == "marketing/offers/en/1"
        assert topic_status(contact, offers) == Status.OPTED_IN
        assert ConsentState.objects.get(contact=contact).last_event.seq == 1
        assert check_chain(contact.pk).valid

    def test_legacy_consent_is_enough_for_a_topic(self, offers):
        PolicyFactory()
        contact = ContactFactory()
        record(contact, Action.LEGACY)

        answer_topic(contact, offers, Action.GRANT)

        assert topic_status(contact, offers) == Status.OPTED_IN

    def test_a_grant_names_the_topics_own_published_notice(self, offers, arrivals):
        contact = ContactFactory()
        record(contact, Action.GRANT)

        for wrong in (notice_for("marketing"), TopicNoticeFactory(topic=arrivals), None):
            with pytest.raises(InvalidConsent) as refused:
                answer_topic(contact, offers, Action.GRANT, notice=wrong)
            assert refused.value.field == "notice"

    def test_a_retired_topic_is_granted_no_more_but_still_withdrawn(self, offers):
        contact = ContactFactory()
        record(contact, Action.GRANT)
        retire_topic(topic=offers)

        with pytest.raises(InvalidConsent) as refused:
            answer_topic(contact, offers, Action.GRANT)
        answer_topic(contact, offers, Action.WITHDRAW)

        assert refused.value.field == "topic"
        assert topic_status(contact, offers) == Status.OPTED_OUT

    def test_a_topic_is_granted_or_withdrawn_nothing_else(self, offers):
        contact = ContactFactory()
        record(contact, Action.GRANT)

        with pytest.raises(InvalidConsent) as refused:
            answer_topic(contact, offers, Action.PAUSE)

        assert refused.value.field == "action"


def test_a_topic_withdrawal_is_never_refused(offers):
    contact = ContactFactory()

    event = answer_topic(contact, offers, Action.WITHDRAW)

    assert (event.applied, event.status_after) == (True, Status.OPTED_OUT)
    assert not ConsentState.objects.filter(contact=contact).exists()


class TestAPurposeWithdrawal:
    def test_withdraws_every_topic_under_it_one_event_each(self, offers, arrivals):
        contact = ContactFactory()
        record(contact, Action.GRANT)
        answer_topic(contact, offers, Action.GRANT)
        answer_topic(contact, arrivals, Action.GRANT)

        stop = record(contact, Action.WITHDRAW)

        cascaded = ConsentEvent.objects.filter(contact=contact, seq__gt=stop.seq).order_by("seq")
        assert [(e.topic, e.action, e.applied) for e in cascaded] == [
            ("new_arrivals", "withdraw", True),
            ("offers", "withdraw", True),
        ]
        assert {e.context["withdrawn_with"] for e in cascaded} == {str(stop.pk)}
        assert {e.occurred_at for e in cascaded} == {stop.occurred_at}
        assert topic_status(contact, offers) == topic_status(contact, arrivals) == "opted_out"
        assert check_chain(contact.pk).valid

    def test_re_granting_the_purpose_grants_no_topic(self, offers):
        contact = ContactFactory()
        record(contact, Action.GRANT)
        answer_topic(contact, offers, Action.GRANT)
        record(contact, Action.WITHDRAW)

        record(contact, Action.GRANT)

        assert topic_status(contact, offers) == Status.OPTED_OUT
        assert may_send_topic(contact, offers).reason == Reason.TOPIC_OPTED_OUT

    def test_leaves_other_purposes_topics_alone(self, offers):
        updates = TopicFactory(purpose="service", key="delivery")
        TopicNoticeFactory(topic=updates)
        contact = ContactFactory()
        record(contact, Action.GRANT)
        record(contact, Action.GRANT, purpose="service")
        answer_topic(contact, updates, Action.GRANT)

        record(contact, Action.WITHDRAW)

        assert topic_status(contact, updates) == Status.OPTED_IN

    def test_a_keyword_stop_for_a_person_reaches_their_topics(self, offers):
        contact = ContactFactory()
        record(contact, Action.GRANT)
        answer_topic(contact, offers, Action.GRANT)

        record_opt_out(contacts=[contact], purposes=["marketing"], source="whatsapp_keyword")

        assert topic_status(contact, offers) == Status.OPTED_OUT

    def test_an_outranked_purpose_withdrawal_leaves_topics_as_they_are(self, offers):
        contact = ContactFactory()
        record(contact, Action.GRANT)
        answer_topic(contact, offers, Action.GRANT)

        late = record(contact, Action.WITHDRAW, at=timezone.now() - timedelta(hours=1))

        assert late.applied is False
        assert topic_status(contact, offers) == Status.OPTED_IN


class TestOrdering:
    def test_a_topic_withdrawal_within_the_tie_window_wins(self, offers):
        contact = ContactFactory()
        record(contact, Action.GRANT)
        now = timezone.now()
        answer_topic(contact, offers, Action.GRANT, at=now)

        late = answer_topic(contact, offers, Action.WITHDRAW, at=now - timedelta(seconds=1))

        assert late.applied is True
        assert topic_status(contact, offers) == Status.OPTED_OUT

    def test_an_older_topic_withdrawal_is_kept_as_evidence_only(self, offers):
        contact = ContactFactory()
        record(contact, Action.GRANT)
        answer_topic(contact, offers, Action.GRANT)

        late = answer_topic(
            contact, offers, Action.WITHDRAW, at=timezone.now() - timedelta(hours=1)
        )

        assert late.applied is False
        assert topic_status(contact, offers) == Status.OPTED_IN

    def test_an_outranked_topic_withdrawal_is_listed_and_staff_record_it_as_a_topics(
        self, offers, staff_client
    ):
        contact = ContactFactory()
        record(contact, Action.GRANT)
        answer_topic(contact, offers, Action.GRANT)
        late = answer_topic(
            contact, offers, Action.WITHDRAW, at=timezone.now() - timedelta(hours=1)
        )
        item = OutrankedOptOut.objects.get(event=late)
        assert item.outranked_by.topic == "offers"

        resolve_outranked_opt_out(item=item, withdraw=True, actor=staff_client.user)

        item.refresh_from_db()
        assert (item.resolution_event.topic, item.resolution_event.action) == ("offers", "withdraw")
        assert topic_status(contact, offers) == Status.OPTED_OUT
        assert ConsentState.objects.get(contact=contact).status == Status.OPTED_IN

    def test_a_late_topic_grant_does_not_undo_a_later_withdrawal(self, offers):
        contact = ContactFactory()
        record(contact, Action.GRANT, at=timezone.now() - timedelta(hours=2))
        answer_topic(contact, offers, Action.WITHDRAW)

        late = answer_topic(contact, offers, Action.GRANT, at=timezone.now() - timedelta(hours=1))

        assert late.applied is False
        assert topic_status(contact, offers) == Status.OPTED_OUT


class TestTheGate:
    def test_a_topic_is_sendable_only_when_its_purpose_is_and_it_was_granted(
        self, offers, arrivals
    ):
        contact = ContactFactory()
        assert may_send_topic(contact, offers).reason == Reason.NO_CONSENT
        record(contact, Action.GRANT)
        answer_topic(contact, offers, Action.GRANT)
        answer_topic(contact, arrivals, Action.WITHDRAW)

        assert may_send_topic(contact, offers).allowed is True
        assert may_send_topic(str(contact.phone), offers).allowed is True
        assert may_send_topic(str(contact.phone), arrivals).reason == Reason.TOPIC_OPTED_OUT
        assert may_send_topic(ContactFactory(), arrivals).reason == Reason.NO_CONSENT

    def test_topic_no_consent_when_the_purpose_allows_but_the_topic_was_never_asked(self, offers):
        contact = ContactFactory()
        record(contact, Action.GRANT)

        assert may_send_topic(contact, offers).reason == Reason.TOPIC_NO_CONSENT

    def test_many_phones_are_answered_in_order(self, offers):
        granted, left, silent, stopped = (ContactFactory() for _ in range(4))
        for contact in (granted, left, silent):
            record(contact, Action.GRANT)
        answer_topic(granted, offers, Action.GRANT)
        answer_topic(left, offers, Action.WITHDRAW)
        record(stopped, Action.WITHDRAW)
        phones = [str(c.phone) for c in (granted, left, silent, stopped)] + ["nonsense"]

        answers = may_send_topic_many(phones, offers)

        assert [d.reason for _, d in answers] == [
            Reason.OPTED_IN,
            Reason.TOPIC_OPTED_OUT,
            Reason.TOPIC_NO_CONSENT,
            Reason.OPTED_OUT,
            Reason.INVALID_PHONE,
        ]


class TestRebuildAndVerification:
    def test_a_lost_topic_state_is_reported_and_rebuilt(self, offers):
        contact = ContactFactory()
        record(contact, Action.GRANT)
        answer_topic(contact, offers, Action.GRANT)
        TopicState.objects.filter(contact=contact).delete()

        differences = rebuild_states()

        assert [(d.purpose, d.stored, d.rebuilt) for d in differences] == [
            ("marketing/offers", "none", "opted_in")
        ]
        assert topic_status(contact, offers) == Status.OPTED_IN
        assert rebuild_states(write=False) == []

    def test_topic_events_leave_the_purpose_state_to_purpose_events(self, offers):
        contact = ContactFactory()
        record(contact, Action.GRANT)
        answer_topic(contact, offers, Action.WITHDRAW)
        before = ConsentState.objects.get(contact=contact)

        rebuild_contact_states(contact.pk)

        after = ConsentState.objects.get(contact=contact)
        assert (after.status, after.last_event_id) == (Status.OPTED_IN, before.last_event_id)

    def test_a_changed_topic_fails_verification_at_that_event(self, offers, arrivals):
        contact = ContactFactory()
        record(contact, Action.GRANT)
        event = answer_topic(contact, offers, Action.GRANT)
        assert verify_ledger().valid

        tamper(event.pk, "topic", "new_arrivals")

        assert check_chain(contact.pk).broken_event_id == event.pk
        assert [b.broken_event_id for b in verify_ledger().broken] == [event.pk]

    def test_a_topic_added_to_a_purpose_event_fails_verification(self, offers):
        contact = ContactFactory()
        event = record(contact, Action.GRANT)

        tamper(event.pk, "topic", "offers")

        assert [b.broken_event_id for b in verify_ledger().broken] == [event.pk]
