"""Whole-ledger passes stream the ledger and agree with the per-contact rules."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from consent.chain import CHAINED_FIELDS, check_chain, event_row
from consent.models import ConsentEvent, ConsentState
from consent.rules import Action, Status
from consent.services import Evidence
from consent.sql import stream_rows
from consent.verification import contact_ranges, rebuild_states, verify_ledger
from tests.consent_helpers import record
from tests.factories import ContactFactory
from tests.ledger_tampering import tamper
from tests.test_ledger_chain import TAMPERABLE, fuzz, play, tampered_value

pytestmark = pytest.mark.django_db


@fuzz
@given(data=st.data(), steps=st.integers(min_value=1, max_value=10))
def test_any_legal_history_verifies_and_replays_as_the_per_contact_rebuild(data, steps):
    # given a random legal history, late arrivals included
    contact = ContactFactory()
    events = play(data, contact, steps)

    # when the whole ledger is verified and replayed in one streamed pass
    verification = verify_ledger()
    differences = rebuild_states(write=False)

    # then it is what the per-contact walk and rebuild say
    assert verification.valid
    assert verification.events == ConsentEvent.objects.count()
    assert check_chain(contact.pk).events == len(events)
    assert differences == []


@fuzz
@given(data=st.data(), steps=st.integers(min_value=1, max_value=6))
def test_tampering_with_one_event_is_reported_at_that_event(data, steps):
    # given two contacts' ledgers, one of them tampered with
    contact, bystander = ContactFactory(), ContactFactory()
    events = play(data, contact, steps)
    record(bystander, Action.WITHDRAW)
    victim = data.draw(st.sampled_from(events))
    column = data.draw(st.sampled_from(TAMPERABLE))
    tamper(victim.pk, column, tampered_value(victim, column))

    # when every chain is verified
    verification = verify_ledger()

    # then that contact is broken (not the bystander), at the event the per-contact walk names
    # (earlier examples' contacts are still in the database)
    ours = [b for b in verification.broken if b.contact_id in (contact.pk, bystander.pk)]
    assert [(b.contact_id, b.broken_event_id) for b in ours] == [(contact.pk, victim.pk)]
    assert ours[0].problem == check_chain(contact.pk).problem


def test_streamed_rows_are_the_rows_the_ledger_hashes():
    # given events carrying every kind of evidence
    actor = get_user_model().objects.create_user("clerk")
    contact = ContactFactory()
    record(
        contact,
        Action.GRANT,
        evidence=Evidence(
            ip="2001:db8::1",
            user_agent="Mozilla/5.0 «ünïcode»",
            page_url="https://example.com/p?q=1",
            wamid="wamid.X",
            note="line\nbreak\ttab",
            context={"b": [1, 2], "a": {"z": None}},
        ),
        actor=actor,
        idempotency_key="key-1",
    )
    record(contact, Action.LEGACY, "service", expires_at=timezone.now() + timedelta(days=9))
    record(contact, Action.PAUSE, paused_until=timezone.now() + timedelta(days=7))

    # when streamed as plain rows
    rows = list(stream_rows(ConsentEvent, CHAINED_FIELDS, (None, None), ("contact", "seq")))

    # then each is exactly what event_row makes of the model instance
    expected = [
        {name: event_row(e)[name] for name in CHAINED_FIELDS}
        for e in ConsentEvent.objects.order_by("seq")
    ]
    assert [dict(zip(CHAINED_FIELDS, row, strict=True)) for row in rows] == expected


def test_check_reports_drift_and_a_state_without_events_and_write_repairs_them():
    # given a drifted state, and a state no event explains
    drifted, orphan = ContactFactory(), ContactFactory()
    record(drifted, Action.GRANT)
    ConsentState.objects.filter(contact=drifted).update(status=Status.OPTED_OUT)
    ConsentState.objects.create(contact=orphan, purpose="service", status=Status.OPTED_IN)

    # when checked, then both are reported and nothing is written
    differences = rebuild_states(write=False)
    assert {(d.contact_id, d.purpose, d.stored, d.rebuilt) for d in differences} == {
        (drifted.pk, "marketing", "opted_out", "opted_in"),
        (orphan.pk, "service", "opted_in", "none"),
    }
    assert ConsentState.objects.get(contact=drifted).status == Status.OPTED_OUT

    # when rebuilt, then the projection is the ledger's again
    rebuild_states(write=True)
    assert ConsentState.objects.get(contact=drifted).status == Status.OPTED_IN
    assert not ConsentState.objects.filter(contact=orphan).exists()
    assert rebuild_states(write=False) == []


def test_contact_ranges_cover_every_id_once():
    ranges = contact_ranges(4)

    assert ranges[0][0] is None and ranges[-1][1] is None
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))


@pytest.mark.django_db(transaction=True)
def test_several_workers_find_what_one_finds():
    # given contacts spread over the id space, one chain tampered with
    contacts = [ContactFactory() for _ in range(12)]
    for contact in contacts:
        record(contact, Action.GRANT)
        record(contact, Action.WITHDRAW)
    victim = ConsentEvent.objects.filter(contact=contacts[5], seq=2).get()
    tamper(victim.pk, "wamid", "edited")
    ConsentState.objects.filter(contact=contacts[7]).update(status=Status.PAUSED)
    seen: list[int] = []

    # when verified and checked by four processes (one, on SQLite)
    verification = verify_ledger(workers=4, on_progress=seen.append)
    differences = rebuild_states(write=False, workers=4)

    # then the findings are those of one pass, and progress adds up to every event
    assert (verification.chains, verification.events) == (12, 24)
    assert [b.broken_event_id for b in verification.broken] == [victim.pk]
    assert sum(seen) == 24
    assert [(d.contact_id, d.stored) for d in differences] == [(contacts[7].pk, "paused")]
