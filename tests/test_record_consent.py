"""record_consent: the one way in to the ledger."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.exceptions import IdempotencyConflict, InvalidConsent
from consent.models import ConsentEvent, ConsentState
from consent.rules import Action, IllegalTransition, Source, Status
from consent.services import Evidence, record_consent
from tests.consent_helpers import notice_for, record
from tests.factories import ContactFactory, NoticeFactory, PolicyFactory

pytestmark = pytest.mark.django_db


def state_of(contact, purpose="marketing"):
    return ConsentState.objects.get(contact=contact, purpose=purpose)


def test_grant_records_event_and_state_together():
    contact = ContactFactory()
    notice = notice_for("marketing")

    event = record(contact, Action.GRANT, notice=notice, source=Source.WEB_FORM)

    state = state_of(contact)
    assert event.status_after == Status.OPTED_IN
    assert (state.status, state.notice, state.last_event) == (Status.OPTED_IN, notice, event)
    assert event.ip == "203.0.113.9" and event.user_agent == "pytest"
    assert event.seq == 1 and event.prev_hash is None and len(event.hash) == 64


def test_purposes_are_independent():
    contact = ContactFactory()
    record(contact, Action.GRANT, "service")
    record(contact, Action.WITHDRAW, "marketing")

    assert state_of(contact, "service").status == Status.OPTED_IN
    assert state_of(contact, "marketing").status == Status.OPTED_OUT


@pytest.mark.parametrize("action", [Action.GRANT, Action.REQUEST])
def test_grant_and_request_need_a_published_notice(action):
    contact = ContactFactory()
    draft = NoticeFactory(version=2, published_at=None)

    for notice in (None, draft):
        with pytest.raises(InvalidConsent) as err:
            record_consent(
                contact=contact,
                purpose="marketing",
                action=action,
                source=Source.API,
                notice=notice,
            )
        assert (err.value.code, err.value.field) == ("notice_required", "notice")
    assert not ConsentEvent.objects.exists()


def test_notice_of_another_purpose_is_refused():
    with pytest.raises(InvalidConsent) as err:
        record(ContactFactory(), Action.GRANT, "marketing", notice=notice_for("service"))
    assert err.value.field == "notice"


def test_grant_far_in_the_future_is_refused(marketing_notice):
    with pytest.raises(InvalidConsent) as err:
        record(
            ContactFactory(),
            Action.GRANT,
            notice=marketing_notice,
            at=timezone.now() + timedelta(minutes=6),
        )
    assert (err.value.code, err.value.field) == ("occurred_in_future", "occurred_at")
    assert not ConsentEvent.objects.exists()


def test_withdraw_far_in_the_future_is_kept_with_its_stated_time_and_applies_now():
    stated = timezone.now() + timedelta(minutes=6)

    event = record(ContactFactory(), Action.WITHDRAW, at=stated)

    assert event.applied and event.status_after == Status.OPTED_OUT
    assert event.occurred_at == stated  # the stated time, kept as evidence
    assert event.contact.consent_states.get().since == event.recorded_at


def test_illegal_transition_names_the_current_status_and_writes_nothing():
    contact = ContactFactory()
    record(contact, Action.WITHDRAW)

    with pytest.raises(IllegalTransition) as err:
        record(contact, Action.LEGACY, expires_at=timezone.now() + timedelta(days=3))

    assert err.value.current == Status.OPTED_OUT
    assert ConsentEvent.objects.filter(contact=contact).count() == 1


def test_legacy_takes_the_active_policy_deadline():
    policy = PolicyFactory()
    event = record(ContactFactory(), Action.LEGACY, source=Source.IMPORT)
    assert event.expires_at == policy.deadline


def test_legacy_without_deadline_or_policy_is_refused():
    with pytest.raises(InvalidConsent) as err:
        record(ContactFactory(), Action.LEGACY)
    assert err.value.field == "expires_at"


def test_an_older_event_is_kept_as_evidence_without_changing_a_newer_answer():
    contact = ContactFactory()
    now = timezone.now()
    record(contact, Action.GRANT, at=now)

    late = record(contact, Action.WITHDRAW, at=now - timedelta(hours=1))

    assert late.applied is False
    assert late.status_after == Status.OPTED_IN
    assert state_of(contact).status == Status.OPTED_IN


def test_old_import_never_turns_opt_out_into_legacy_when_kept_as_evidence():
    contact = ContactFactory()
    record(contact, Action.WITHDRAW)

    kept = record(
        contact,
        Action.LEGACY,
        source=Source.IMPORT,
        keep_if_inapplicable=True,
        expires_at=timezone.now() + timedelta(days=9),
    )

    assert kept.applied is False
    assert state_of(contact).status == Status.OPTED_OUT


def test_pause_needs_an_end_and_records_it():
    contact = ContactFactory()
    record(contact, Action.GRANT)
    with pytest.raises(InvalidConsent):
        record(contact, Action.PAUSE)
    until = timezone.now() + timedelta(weeks=4)

    record(contact, Action.PAUSE, paused_until=until)

    assert (state_of(contact).status, state_of(contact).paused_until) == (Status.PAUSED, until)


def test_same_idempotency_key_and_content_returns_the_first_event():
    contact = ContactFactory()
    at = timezone.now()
    first = record(contact, Action.WITHDRAW, at=at, idempotency_key="k1")
    again = record(contact, Action.WITHDRAW, at=at, idempotency_key="k1")

    assert again.pk == first.pk
    assert ConsentEvent.objects.count() == 1


def test_same_idempotency_key_with_other_content_is_a_conflict():
    contact = ContactFactory()
    record(contact, Action.WITHDRAW, idempotency_key="k1")
    with pytest.raises(IdempotencyConflict):
        record(contact, Action.WITHDRAW, "service", idempotency_key="k1")


def test_invalid_evidence_ip_names_the_field():
    with pytest.raises(InvalidConsent) as err:
        record(ContactFactory(), Action.WITHDRAW, evidence=Evidence(ip="not-an-ip"))
    assert err.value.field == "evidence.ip"


def test_invalid_choice_names_the_field():
    with pytest.raises(InvalidConsent) as err:
        record(ContactFactory(), Action.WITHDRAW, purpose="newsletter")
    assert err.value.field == "purpose"


def test_expiry_task_lapses_legacy_past_the_deadline_only():
    lapsed, current = ContactFactory(), ContactFactory()
    now = timezone.now()
    record(lapsed, Action.LEGACY, expires_at=now - timedelta(seconds=1), at=now - timedelta(days=9))
    record(current, Action.LEGACY, expires_at=now + timedelta(days=1), at=now - timedelta(days=9))

    from consent.tasks import expire_lapsed_legacy_consent

    assert expire_lapsed_legacy_consent.delay().get() == 1
    assert state_of(lapsed).status == Status.EXPIRED
    assert state_of(current).status == Status.LEGACY
    assert ConsentEvent.objects.filter(action=Action.EXPIRE, source=Source.SYSTEM).count() == 1
