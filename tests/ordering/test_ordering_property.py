"""Property: whatever the interleaving, the state is what the ordering rule says.

Random grant / legacy / withdraw / pause / expire with random stated times (ties,
future within and beyond skew, late arrivals) in random arrival order.
"""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.chain import check_chain
from consent.exceptions import InvalidConsent
from consent.models import ConsentState, ReconsentPolicy
from consent.ordering import Standing, effective_time, weigh
from consent.rules import RESTRICTIVE_ACTIONS, Action, IllegalTransition, Status
from consent.selectors import may_send
from consent.services import record_consent
from consent.verification import rebuild_states
from tests.consent_helpers import notice_for
from tests.factories import ContactFactory, PolicyFactory

ACTIONS = [Action.GRANT, Action.LEGACY, Action.WITHDRAW, Action.PAUSE, Action.EXPIRE]

step = st.tuples(
    st.sampled_from(ACTIONS),
    # seconds relative to now: far past, ties around 0, within and beyond the 5 min skew
    st.one_of(
        st.integers(-3600, -1),
        st.sampled_from([0, 0, 1, -1, 2, -2]),
        st.floats(-3, 3, allow_nan=False),
        st.integers(60, 299),
        st.integers(301, 7200),
    ),
)


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=8))
def test_state_follows_the_ordering_rule_after_every_step(steps):
    # Examples share the test's transaction: one active policy for all of them.
    if not ReconsentPolicy.objects.filter(active=True).exists():
        PolicyFactory(deadline=timezone.now() + timedelta(days=30))
    contact = ContactFactory()
    notice = notice_for("marketing")
    expected = Standing()
    for action, offset in steps:
        now = timezone.now()
        stated: datetime = now + timedelta(seconds=offset)
        kwargs = {}
        if action == Action.GRANT:
            kwargs["notice"] = notice
        if action == Action.PAUSE:
            kwargs["paused_until"] = max(stated, now) + timedelta(days=7)
        try:
            event = record_consent(
                contact=contact,
                purpose="marketing",
                action=action,
                source="api" if action != Action.EXPIRE else "system",
                occurred_at=stated,
                keep_if_inapplicable=True,
                **kwargs,
            )
        except InvalidConsent as refused:
            # Only a permissive event is ever refused for its date, never an opt-out.
            assert action not in RESTRICTIVE_ACTIONS
            assert refused.code == "occurred_in_future"
            continue
        at = effective_time(event.occurred_at, event.recorded_at)
        try:
            weighed = weigh(expected, action, at)
        except IllegalTransition:
            weighed = None
        if weighed is not None and weighed.applied:
            expected = weighed.standing
        assert event.applied == bool(weighed and weighed.applied)
        state = ConsentState.objects.filter(contact=contact).first()
        assert (state.status if state else Status.NONE) == expected.status
        if action in RESTRICTIVE_ACTIONS and event.applied:
            assert not may_send(contact, "marketing", at=now).allowed
    assert check_chain(contact.pk).valid
    assert rebuild_states(write=False) == []


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    grant_ms=st.integers(0, 999),
    lag=st.floats(0, 1.999, allow_nan=False),
)
def test_a_stop_within_the_tie_window_of_a_grant_always_applies(grant_ms, lag):
    contact = ContactFactory()
    now = timezone.now() - timedelta(seconds=30)
    granted_at = now.replace(microsecond=grant_ms * 1000)
    record_consent(
        contact=contact,
        purpose="marketing",
        action=Action.GRANT,
        source="api",
        notice=notice_for("marketing"),
        occurred_at=granted_at,
    )

    stop = record_consent(
        contact=contact,
        purpose="marketing",
        action=Action.WITHDRAW,
        source="whatsapp_keyword",
        occurred_at=granted_at - timedelta(seconds=lag),
    )

    assert stop.applied
    assert not may_send(contact, "marketing").allowed
