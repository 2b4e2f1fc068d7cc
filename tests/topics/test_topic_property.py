"""Property: any interleaving of purpose and topic answers, stated at any time and arriving
in any order, replays to the recorder's states, and a purpose's withdrawal leaves every topic
under it unsendable."""

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.exceptions import InvalidConsent
from consent.models import ConsentEvent, TopicState
from consent.ordering import effective_time, tie_window
from consent.rules import RESTRICTIVE_ACTIONS, Action, Status
from consent.selectors import may_send_topic
from consent.services import PurposeNotGranted, record_consent
from consent.verification import rebuild_states, verify_ledger
from tests.consent_helpers import notice_for
from tests.factories import ContactFactory, TopicFactory, TopicNoticeFactory
from tests.topics.helpers import answer_topic

pytestmark = pytest.mark.django_db

TOPICS = ("offers", "new_arrivals")
step = st.tuples(
    st.sampled_from(["marketing", *TOPICS]),
    st.sampled_from([Action.GRANT, Action.WITHDRAW, Action.PAUSE]),
    # seconds from now: far past, ties around 0, within and beyond the future skew
    st.one_of(
        st.integers(-3600, -1),
        st.sampled_from([0, 0, 1, -1, 2, -2]),
        st.integers(60, 299),
        st.integers(301, 7200),
    ),
)


def play(contact, subject: str, action: str, offset: int, topics: dict):
    now = timezone.now()
    at = now + timedelta(seconds=offset)
    if subject == "marketing":
        kwargs = {"notice": notice_for("marketing")} if action == Action.GRANT else {}
        if action == Action.PAUSE:
            kwargs["paused_until"] = max(at, now) + timedelta(days=7)
        return record_consent(
            contact=contact,
            purpose="marketing",
            action=action,
            source="api",
            occurred_at=at,
            keep_if_inapplicable=True,
            **kwargs,
        )
    return answer_topic(contact, topics[subject], action, at=at)


def assert_topics_unsendable_after(withdrawal: ConsentEvent, contact, topics: dict) -> None:
    """Each topic is withdrawn, unless the person's own later topic grant outranks it."""
    stopped_at = effective_time(withdrawal.occurred_at, withdrawal.recorded_at)
    for topic in topics.values():
        assert not may_send_topic(contact, topic).allowed
        state = TopicState.objects.filter(contact=contact, topic=topic).first()
        if state is not None and state.status == Status.OPTED_IN:
            assert state.permissive_at > stopped_at + tie_window()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=10))
def test_any_interleaving_replays_to_the_recorders_states(steps):
    topics = {key: TopicFactory(key=key) for key in TOPICS}
    for topic in topics.values():
        TopicNoticeFactory(topic=topic)
    contact = ContactFactory()
    for subject, action, offset in steps:
        if subject != "marketing" and action == Action.PAUSE:
            continue
        try:
            event = play(contact, subject, action, offset, topics)
        except PurposeNotGranted:
            assert subject != "marketing" and action == Action.GRANT
            continue
        except InvalidConsent as refused:
            # Only a permissive answer is ever refused, and only for a date in the future.
            assert action not in RESTRICTIVE_ACTIONS
            assert refused.code == "occurred_in_future"
            continue
        if subject == "marketing" and action == Action.WITHDRAW and event.applied:
            assert_topics_unsendable_after(event, contact, topics)

    assert rebuild_states(write=False) == []
    assert verify_ledger().valid
