"""Two writers racing on one contact end with state = last ledger event, and a valid chain."""

import threading

import pytest
from django.db import connection, connections

from consent.chain import check_chain
from consent.models import ConsentEvent, ConsentState
from consent.rules import Action
from tests.consent_helpers import notice_for, record
from tests.factories import ContactFactory

ROUNDS = 15


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_conflicting_writers_leave_state_matching_the_last_event():
    if connection.vendor != "postgresql":
        pytest.skip("row locks under real concurrency need PostgreSQL (CI runs this)")
    # given
    contact = ContactFactory()
    notice = notice_for("marketing")
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(action: Action) -> None:
        try:
            start.wait()
            for _ in range(ROUNDS):
                kwargs = {"notice": notice} if action == Action.GRANT else {}
                record(contact, action, **kwargs)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    # when
    threads = [threading.Thread(target=writer, args=(a,)) for a in (Action.GRANT, Action.WITHDRAW)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # then
    assert errors == []
    events = list(ConsentEvent.objects.filter(contact=contact).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, 2 * ROUNDS + 1))
    last_applied = [e for e in events if e.applied][-1]
    state = ConsentState.objects.get(contact=contact, purpose="marketing")
    assert (state.status, state.last_event_id) == (last_applied.status_after, last_applied.pk)
    assert check_chain(contact.pk).valid
