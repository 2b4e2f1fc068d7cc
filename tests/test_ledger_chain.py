"""The hash chain: any random legal history verifies and rebuilds; any tampering is caught."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.chain import check_chain
from consent.models import ConsentEvent, ConsentState
from consent.rules import TRANSITIONS, Action, Purpose, Status
from consent.verification import rebuild_states
from tests.consent_helpers import record
from tests.factories import ContactFactory
from tests.ledger_tampering import append_only_trigger_disabled, tamper

pytestmark = pytest.mark.django_db

SYSTEM_ONLY = {Action.EXPIRE}


def legal_actions(status: Status) -> list[Action]:
    return [a for (s, a) in TRANSITIONS if s == status and a not in SYSTEM_ONLY] + (
        [Action.EXPIRE] if status == Status.LEGACY else []
    )


def play(data, contact, steps: int) -> list[ConsentEvent]:
    """Record a random legal history, sometimes with late (out-of-order) arrivals."""
    now = timezone.now() - timedelta(days=30)
    status = {p: Status.NONE for p in Purpose}
    events = []
    for step in range(steps):
        purpose = data.draw(st.sampled_from(list(Purpose)))
        action = data.draw(st.sampled_from(legal_actions(status[purpose])))
        late = data.draw(st.booleans()) and step > 0
        at = now + timedelta(minutes=step) - (timedelta(days=2) if late else timedelta())
        extra = {}
        if action == Action.LEGACY:
            extra["expires_at"] = now + timedelta(days=60)
        if action == Action.PAUSE:
            extra["paused_until"] = at + timedelta(weeks=1)
        event = record(contact, action, purpose, at=at, keep_if_inapplicable=True, **extra)
        if event.applied:
            status[purpose] = Status(event.status_after)
        events.append(event)
    return events


fuzz = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@fuzz
@given(data=st.data(), steps=st.integers(min_value=1, max_value=12))
def test_any_legal_history_verifies_and_rebuilds_to_the_same_state(data, steps):
    contact = ContactFactory()
    events = play(data, contact, steps)

    check = check_chain(contact.pk)
    differences = [d for d in rebuild_states(write=False) if d.contact_id == contact.pk]

    assert (check.valid, check.events) == (True, len(events))
    assert differences == []


def tampered_value(event: ConsentEvent, column: str):
    """A different value for `column` that the table's constraints still accept."""
    current = getattr(event, column)
    return {
        "action": "legacy" if current == "withdraw" else "withdraw",
        "purpose": "service" if current == "marketing" else "marketing",
        "status_after": "opted_out" if current == "opted_in" else "opted_in",
        "evidence_digest": "0" * 64,
        "wamid": f"{current} (edited)",
        "source": "admin",
        "occurred_at": event.occurred_at - timedelta(days=999),
    }[column]


TAMPERABLE = [
    "action",
    "purpose",
    "status_after",
    "evidence_digest",
    "wamid",
    "source",
    "occurred_at",
]


@fuzz
@given(data=st.data(), steps=st.integers(min_value=1, max_value=8))
def test_tampering_with_any_one_event_breaks_that_contacts_chain(data, steps):
    contact, bystander = ContactFactory(), ContactFactory()
    events = play(data, contact, steps)
    record(bystander, Action.WITHDRAW)
    victim = data.draw(st.sampled_from(events))
    column = data.draw(st.sampled_from(TAMPERABLE))

    tamper(victim.pk, column, tampered_value(victim, column))

    check = check_chain(contact.pk)
    assert not check.valid
    assert check.broken_event_id == victim.pk
    assert check_chain(bystander.pk).valid


def test_verify_ledger_command_passes_then_fails_on_tampering():
    contact = ContactFactory()
    record(contact, Action.GRANT)
    second = record(contact, Action.WITHDRAW)
    out = StringIO()

    call_command("verify_ledger", stdout=out)
    assert "0 broken" in out.getvalue()

    tamper(second.pk, "action", "legacy")
    err = StringIO()
    with pytest.raises(CommandError, match="1 broken"):
        call_command("verify_ledger", stdout=StringIO(), stderr=err)
    assert str(contact.pk) in err.getvalue() and str(second.pk) in err.getvalue()


def test_a_removed_event_is_detected():
    contact = ContactFactory()
    record(contact, Action.GRANT)
    middle = record(contact, Action.WITHDRAW)
    record(contact, Action.GRANT)

    with append_only_trigger_disabled() as cursor:
        # Detach the state's reference, then remove the middle event.
        cursor.execute("UPDATE consent_consentstate SET last_event_id = NULL")
        pk = middle.pk.hex if cursor.db.vendor == "sqlite" else middle.pk
        cursor.execute("DELETE FROM consent_consentevidence WHERE event_id = %s", [pk])
        cursor.execute("DELETE FROM consent_consentevent WHERE id = %s", [pk])

    check = check_chain(contact.pk)
    assert not check.valid and "missing" in check.problem


def test_rebuild_command_repairs_a_drifted_projection():
    contact = ContactFactory()
    record(contact, Action.GRANT)
    ConsentState.objects.filter(contact=contact).update(status=Status.OPTED_OUT)

    with pytest.raises(CommandError, match="1 states differ"):
        call_command("rebuild_consent_state", "--check", stdout=StringIO())
    assert ConsentState.objects.get(contact=contact).status == Status.OPTED_OUT

    call_command("rebuild_consent_state", stdout=StringIO())
    assert ConsentState.objects.get(contact=contact).status == Status.OPTED_IN
    call_command("rebuild_consent_state", "--check", stdout=StringIO())


@pytest.mark.postgres
def test_an_instant_reads_the_same_in_python_and_in_postgresql():
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from django.db import connection

    from consent.chain import instant_sql, instant_text

    if connection.vendor != "postgresql":
        pytest.skip("the SQL form is PostgreSQL's (the set-based import)")
    instants = [
        datetime(2026, 3, 29, 1, 30, 0, 1, tzinfo=ZoneInfo("Europe/London")),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=ZoneInfo("Asia/Kolkata")),
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2030, 10, 27, 1, 0, 0, 500, tzinfo=ZoneInfo("America/Sao_Paulo")),
    ]
    with connection.cursor() as cursor:
        for at in instants:
            cursor.execute(f"SELECT {instant_sql('%s::timestamptz')}", [at])
            assert cursor.fetchone()[0] == instant_text(at)
