from datetime import timedelta

import pytest
from django.utils import timezone

from consent.rules import Action, Source, Status
from consent.selectors import consent_states
from conversation.pending import expire_stale_requests
from conversation.tasks import expire_stale_opt_in_requests
from tests.consent_helpers import record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_unconfirmed_requests_lapse_back_to_none_after_the_configured_time(settings, notices):
    # given
    settings.OPTIN_PENDING_MAX_AGE_HOURS = 48
    stale, fresh = ContactFactory(), ContactFactory()
    record(stale, Action.REQUEST, at=timezone.now() - timedelta(hours=49))
    record(fresh, Action.REQUEST, at=timezone.now() - timedelta(hours=47))
    # when
    expired = expire_stale_requests()
    # then
    assert expired == 1
    state = consent_states(stale)["marketing"]
    assert (state.status, state.source) == (Status.NONE, Source.SYSTEM)
    assert state.last_event.action == Action.EXPIRE
    assert consent_states(fresh)["marketing"].status == Status.PENDING


def test_a_confirmed_request_is_left_alone(settings, notices):
    contact = ContactFactory()
    record(contact, Action.REQUEST, at=timezone.now() - timedelta(days=10))
    record(contact, Action.GRANT, at=timezone.now() - timedelta(days=9))
    assert expire_stale_requests() == 0
    assert consent_states(contact)["marketing"].status == Status.OPTED_IN


def test_the_beat_task_runs_the_sweep(settings, notices):
    contact = ContactFactory()
    record(contact, Action.REQUEST, at=timezone.now() - timedelta(days=10))
    assert expire_stale_opt_in_requests.delay().get() == 1
    assert "expire-stale-opt-in-requests" in settings.CELERY_BEAT_SCHEDULE
