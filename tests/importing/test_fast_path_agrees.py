"""The fast path (COPY, set-based) and the row path (record_consent per row) agree.

Random ledgers, then random files imported both ways from the same starting
point: the ledgers (event by event), the states, the outranked opt-outs and
every chain's verification must be the same.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.chain import check_chain
from consent.models import ConsentEvent, ConsentState, OutrankedOptOut
from consent.rules import Action, Source
from consent.services import record_consent
from contacts.models import Contact
from tests.factories import ContactFactory, NoticeFactory, PolicyFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

PHONES = [f"+4479111{i:05d}" for i in range(8)]
HISTORY_ACTIONS = [Action.GRANT, Action.WITHDRAW, Action.LEGACY, Action.PAUSE, Action.REQUEST]
FILE_DATES = [
    "",
    "2020-01-01",
    "2024-06-01 12:00",
    "2025-01-01",
    # Seconds apart, inside and outside the tie window against the history below.
    "2025-06-01 00:00:01",
    "2025-06-01 00:00:05",
]
HISTORY_TIMES = [
    datetime(2019, 1, 1, tzinfo=UTC),
    datetime(2024, 1, 1, tzinfo=UTC),
    datetime(2025, 6, 1, tzinfo=UTC),
    datetime(2025, 6, 1, 0, 0, 3, tzinfo=UTC),
]

history = st.lists(
    st.tuples(
        st.sampled_from(PHONES[:5]),
        st.sampled_from(["marketing", "service"]),
        st.sampled_from(HISTORY_ACTIONS),
        st.sampled_from(HISTORY_TIMES),
    ),
    max_size=12,
)
consent_cell = st.tuples(st.sampled_from(["", "legacy", "opted_out"]), st.sampled_from(FILE_DATES))
file_rows = st.lists(
    st.tuples(
        st.sampled_from(PHONES),
        st.sampled_from(["", "Ada", "Bob"]),
        st.sampled_from(["", "vip", "vip;new"]),
        consent_cell,
        consent_cell,
    ),
    max_size=8,
    unique_by=lambda row: row[0],
)


def given_history(events) -> None:
    for phone in PHONES[:5]:
        ContactFactory(phone=phone, name="Known")
    for phone, purpose, action, at in events:
        contact = Contact.objects.get(phone=phone)
        notice = NoticeFactory(purpose=purpose)
        record_consent(
            contact=contact,
            purpose=purpose,
            action=action,
            source=Source.API,
            notice=notice if action in (Action.GRANT, Action.REQUEST) else None,
            occurred_at=at,
            paused_until=at + timedelta(days=365 * 5) if action == Action.PAUSE else None,
            expires_at=None,
            keep_if_inapplicable=True,
        )


def _moment(value, start):
    # Times the import chose itself ("when imported") differ between two runs.
    return "now" if value is not None and value >= start else value


def outcome(start) -> dict:
    phone_of = dict(Contact.objects.values_list("pk", "phone"))
    events = {}
    for e in ConsentEvent.objects.order_by("contact", "seq"):
        context = {**e.context, "import": {**e.context.get("import", {}), "key": None}}
        events[(str(phone_of[e.contact_id]), e.seq)] = (
            e.purpose,
            e.action,
            e.source,
            e.notice_id,
            _moment(e.occurred_at, start),
            e.expires_at,
            e.note,
            context if e.source == Source.IMPORT else e.context,
            e.applied,
            e.status_after,
            e.prev_hash is None,
        )
    seq_of = dict(ConsentEvent.objects.values_list("pk", "seq"))
    states = {
        (str(phone_of[s.contact_id]), s.purpose): (
            s.status,
            _moment(s.since, start),
            s.source,
            s.notice_id,
            s.expires_at,
            s.paused_until,
            _moment(s.latest_at, start),
            _moment(s.permissive_at, start),
            seq_of.get(s.last_event_id),
        )
        for s in ConsentState.objects.all()
    }
    outranked = {
        (str(phone_of[o.event.contact_id]), o.event.seq): o.outranked_by.seq
        if o.outranked_by
        else None
        for o in OutrankedOptOut.objects.select_related("event", "outranked_by")
    }
    contacts = {
        str(c.phone): (c.name, c.wa_id, sorted(c.tags.values_list("name", flat=True)))
        for c in Contact.objects.all()
    }
    chains = {str(phone_of[pk]): check_chain(pk).valid for pk in phone_of}
    return {
        "events": events,
        "states": states,
        "outranked": outranked,
        "contacts": contacts,
        "chains": chains,
    }


class _Undo(Exception):
    pass


def imported(path, run_import, method: str, start) -> tuple:
    try:
        with transaction.atomic():
            report = run_import(path, method=method)
            result = (report.counts(), [str(p) for p in report.errors.shown()], outcome(start))
            raise _Undo
    except _Undo:
        return result


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=history, rows=file_rows)
def test_fast_path_and_record_consent_agree(contacts_file, run_import, events, rows):
    if connection.vendor != "postgresql":
        pytest.skip("the fast path is PostgreSQL's; SQLite imports by the row path itself")
    start = timezone.now()
    try:
        with transaction.atomic():
            PolicyFactory(deadline=timezone.now() + timedelta(days=60))
            given_history(events)
            path = contacts_file(
                [
                    "phone",
                    "name",
                    "tags",
                    "marketing_status",
                    "marketing_date",
                    "service_status",
                    "service_date",
                ],
                *[
                    [p, n, t, m[0], m[1] if m[0] else "", s[0], s[1] if s[0] else ""]
                    for p, n, t, m, s in rows
                ],
            )
            fast = imported(path, run_import, "fast", start)
            rows_path = imported(path, run_import, "rows", start)
            raise _Undo
    except _Undo:
        pass
    assert fast == rows_path
    assert all(fast[2]["chains"].values())


TRICKY_TEXT = ["plain", 'say "yes"', "back\\slash", "tab\there", "naïve café", "emoji 📣", ""]


@pytest.mark.parametrize("file_name", ["contacts.csv", 'list "q1" naïve.csv'])
def test_new_contacts_written_in_sql_agree_with_record_consent(
    contacts_file, run_import, file_name
):
    """New contacts are written by SQL alone: their hashes, keys and states are the planner's."""
    if connection.vendor != "postgresql":
        pytest.skip("the fast path is PostgreSQL's")
    start = timezone.now()
    notice = NoticeFactory(purpose="marketing")
    header = ["phone", "name", "tags", "attr:city", "marketing_status", "marketing_date"]
    header += ["marketing_source", "marketing_notice", "service_status", "service_date"]
    rows = [
        [
            f"+4479112{i:05d}",
            text,
            "vip" if i % 2 else "",
            text,
            ["legacy", "opted_out", ""][i % 3],
            ["2024-06-01 12:30", "", "2025-01-01"][i % 3] if i % 3 != 2 else "",
            text if i % 3 != 2 else "",
            (notice.ref if i % 2 else text) if i % 3 != 2 else "",
            ["", "opted_out", "legacy"][i % 3],
            "2023-02-03" if i % 3 else "",
        ]
        for i, text in enumerate(TRICKY_TEXT * 3)
    ]
    try:
        with transaction.atomic():
            PolicyFactory(deadline=timezone.now() + timedelta(days=60))
            path = contacts_file(header, *rows, name=file_name)
            fast = imported(path, run_import, "fast", start)
            rows_path = imported(path, run_import, "rows", start)
            with transaction.atomic():
                first = run_import(path, method="fast")
                keys = sorted(
                    e.context["import"]["key"]
                    for e in ConsentEvent.objects.filter(source=Source.IMPORT)
                )
                again = run_import(path, method="fast")
                events = ConsentEvent.objects.count()
                raise _Undo
    except _Undo:
        pass
    assert fast == rows_path
    assert all(fast[2]["chains"].values())
    assert first.events == events > 0
    assert again.events == 0 and again.new_contacts == 0
    assert len(keys) == len(set(keys)) == events
