"""Whole-ledger passes: verify every chain, rebuild every state, in one streamed scan.

Each pass reads the ledger once through a server-side cursor ordered by
(contact, seq) and does its work in a tight loop over plain rows: the chain is
checked with `consent.chain.chained_hash`, states are replayed with
`consent.services.replay` (the ordering rule of the recorder). With `workers`
> 1 on PostgreSQL the contacts are split by id range, one process and one
connection each. `on_progress(n)` is told of every n events done.
"""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db import connection, transaction

from core.processes import run_forked

from . import sql
from .chain import CHAINED_FIELDS, PERSONAL_FIELDS, ChainCheck, chained_hash, unverifiable
from .models import ConsentEvent, ConsentEvidence, ConsentState, TopicState
from .ordering import Standing
from .rules import Status
from .services import StateDifference, rebuild_contact_states, replay, replay_topics

REPORT_EVERY = 10_000
Progress = Callable[[int], None] | None
Bounds = sql.Bounds


# --- Splitting the work ------------------------------------------------------------------


def contact_ranges(parts: int) -> list[Bounds]:
    """`parts` contact id ranges covering every UUID (random ids spread evenly)."""
    cuts = [uuid.UUID(int=(i << 128) // parts) for i in range(1, parts)]
    return list(zip([None, *cuts], [*cuts, None], strict=True))


def _run(task: Callable[..., Any], workers: int, on_progress: Progress, **kwargs: Any) -> list:
    """`task(bounds=…, on_progress=…, **kwargs)` over contact ranges; results in order."""
    if workers <= 1 or connection.vendor != "postgresql":
        return [task(bounds=(None, None), on_progress=on_progress, **kwargs)]
    parts = [{"bounds": bounds, **kwargs} for bounds in contact_ranges(workers)]
    return run_forked(task, parts, on_progress)


# --- Verifying every chain ---------------------------------------------------------------


@dataclass
class LedgerVerification:
    chains: int = 0
    events: int = 0
    broken: list[ChainCheck] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.broken


def verify_ledger(*, workers: int = 1, on_progress: Progress = None) -> LedgerVerification:
    """Check every contact's chain; each broken one is reported at its first broken link.

    On PostgreSQL the database hashes and links every row (`sql.verify_in_database`);
    the chains it finds wrong, or cannot hash itself, are checked again here, row by row.
    """
    task = _verify_range_in_database if connection.vendor == "postgresql" else _verify_range
    total = LedgerVerification()
    for part in _run(task, workers, on_progress):
        total.chains += part.chains
        total.events += part.events
        total.broken += part.broken
    return total


def _verify_range_in_database(*, bounds: Bounds, on_progress: Progress) -> LedgerVerification:
    with transaction.atomic():
        found = sql.verify_in_database(bounds)
        result = LedgerVerification(chains=found.chains, events=found.events)
        if found.suspects:
            result.broken = _verify_range(
                bounds=bounds, on_progress=None, only=found.suspects
            ).broken
    if on_progress and found.events:
        on_progress(found.events)
    return result


def _verify_range(
    *, bounds: Bounds, on_progress: Progress, only: list[uuid.UUID] | None = None
) -> LedgerVerification:
    names = (*CHAINED_FIELDS, "hash")
    contact_at, seq_at = names.index("contact"), names.index("seq")
    id_at, prev_at, hash_at = names.index("id"), names.index("prev_hash"), len(CHAINED_FIELDS)
    result = LedgerVerification()
    current, expected_seq, prev_hash, count, broken = None, 0, None, 0, False
    done = 0

    def close_chain() -> None:
        if current is not None and not broken:
            result.chains += 1

    with transaction.atomic():
        for row in sql.stream_rows(ConsentEvent, names, bounds, ("contact", "seq"), only):
            done += 1
            if on_progress and done % REPORT_EVERY == 0:
                on_progress(REPORT_EVERY)
            if row[contact_at] != current:
                close_chain()
                current, expected_seq, prev_hash, count, broken = row[contact_at], 0, None, 0, False
            if broken:
                continue
            expected_seq += 1
            count += 1
            stored = row[hash_at]
            problem = ""
            if row[seq_at] != expected_seq:
                problem = f"event #{expected_seq} is missing (found #{row[seq_at]})"
            elif row[prev_at] != prev_hash:
                problem = "prev_hash does not match the previous event"
            else:
                plain = dict(zip(CHAINED_FIELDS, row, strict=False))
                if plain["form"] == 1:
                    plain.update(_form_one_evidence(plain["id"]))
                if stored != chained_hash(plain) and not unverifiable(plain):
                    problem = "stored fields do not match the event's hash"
            if problem:
                broken = True
                result.chains += 1
                result.broken.append(
                    ChainCheck(uuid.UUID(current), False, count, uuid.UUID(row[id_at]), problem)
                )
                continue
            prev_hash = stored
        close_chain()
    result.events = done
    if on_progress and done % REPORT_EVERY:
        on_progress(done % REPORT_EVERY)
    return result


def _form_one_evidence(event_id: str) -> dict[str, Any]:
    """A form-1 event hashed its evidence inline; it now lives in its own table."""
    # The plugin types a uuid key's lookup without its text form, which the ORM also takes.
    found = (
        ConsentEvidence.objects.filter(pk=event_id)  # type: ignore[misc]
        .values(*PERSONAL_FIELDS, "erased_at")
        .first()
    )
    if found is None:
        return dict.fromkeys(PERSONAL_FIELDS, "")
    found["evidence_erased_at"] = found.pop("erased_at")
    return found


# --- Rebuilding every state ------------------------------------------------------------


class _Event(NamedTuple):
    """What `replay` reads of an event."""

    pk: str
    contact_id: str
    seq: int
    purpose: str
    action: str
    occurred_at: Any
    recorded_at: Any
    topic: str | None


_EVENT_FIELDS = ("id", "contact", "seq", "purpose", "action", "occurred_at", "recorded_at", "topic")
_STATE_FIELDS = ("contact", "purpose", "status", "last_event")


def rebuild_states(
    *, write: bool = True, workers: int = 1, on_progress: Progress = None
) -> list[StateDifference]:
    """Replay every ledger with the ordering rule and compare with the stored states in bulk.

    One pass compares everything; with `write`, only the contacts that differ are
    then rebuilt, each under its row lock (their events are read again there, so a
    consent recorded meanwhile is not lost).
    """
    differences = [d for part in _run(_compare_range, workers, on_progress) for d in part]
    differences += _topic_differences()
    if not write:
        return differences
    for contact_id in dict.fromkeys(d.contact_id for d in differences):
        rebuild_contact_states(contact_id)
    return differences


def _contacts_of(rows: Iterator[list]) -> Iterator[tuple[str, list[list]]]:
    """Group a (contact, …)-ordered stream into (contact, its rows)."""
    current: str | None = None
    group: list[list] = []
    for row in rows:
        if row[0] != current:
            if current is not None and group:
                yield current, group
            current, group = row[0], []
        group.append(row)
    if current is not None and group:
        yield current, group


def _compare_range(*, bounds: Bounds, on_progress: Progress) -> list[StateDifference]:
    differences: list[StateDifference] = []
    done = 0
    with transaction.atomic():
        events = (
            (row[1], _Event(*row))
            for row in sql.stream_rows(ConsentEvent, _EVENT_FIELDS, bounds, ("contact", "seq"))
        )
        states = sql.stream_rows(ConsentState, _STATE_FIELDS, bounds, ("contact", "purpose"))
        ledger = _group(events)
        stored = _contacts_of(states)
        for contact_id, contact_events, contact_states in _merge(ledger, stored):
            done += len(contact_events)
            if on_progress and done >= REPORT_EVERY:
                on_progress(done)
                done = 0
            differences += _differences(contact_id, contact_events, contact_states)
    if on_progress and done:
        on_progress(done)
    return differences


def _group(events: Iterator[tuple[str, _Event]]) -> Iterator[tuple[str, list[_Event]]]:
    current: str | None = None
    group: list[_Event] = []
    for contact_id, event in events:
        if contact_id != current:
            if current is not None and group:
                yield current, group
            current, group = contact_id, []
        group.append(event)
    if current is not None and group:
        yield current, group


def _merge(
    ledger: Iterator[tuple[str, list[_Event]]], stored: Iterator[tuple[str, list[list]]]
) -> Iterator[tuple[str, list[_Event], list[list]]]:
    """Both streams are ordered by contact id: walk them side by side."""
    # (None, []) once a stream is over.
    sentinel: tuple[Any, list[Any]] = (None, [])
    left, right = next(ledger, sentinel), next(stored, sentinel)
    while left[0] is not None or right[0] is not None:
        if right[0] is None or (left[0] is not None and left[0] < right[0]):
            yield left[0], left[1], []
            left = next(ledger, sentinel)
        elif left[0] is None or right[0] < left[0]:
            yield right[0], [], right[1]
            right = next(stored, sentinel)
        else:
            yield left[0], left[1], right[1]
            left, right = next(ledger, sentinel), next(stored, sentinel)


def _differences(contact_id, events: list[_Event], states: list[list]) -> list[StateDifference]:
    rebuilt = replay(events)
    stored = {purpose: (status, last_event) for _, purpose, status, last_event in states}
    found = []
    for purpose in sorted(set(rebuilt) | set(stored)):
        want, last = rebuilt.get(purpose, (Standing(), None))
        have_status, have_last = stored.get(purpose, (Status.NONE, None))
        same = purpose in stored and last is not None and have_last == last.pk
        if have_status != want.status or not same:
            found.append(
                StateDifference(uuid.UUID(contact_id), purpose, str(have_status), str(want.status))
            )
    return found


# Topic states: few contacts have any, so they are compared per contact (the events by
# the partial index on topic events), not in the streamed pass.


def _topic_differences() -> list[StateDifference]:
    """Each (contact, topic) whose stored state is not what its topic events replay to."""
    contacts = set(
        ConsentEvent.objects.exclude(topic=None).values_list("contact_id", flat=True).distinct()
    ) | set(TopicState.objects.values_list("contact_id", flat=True).distinct())
    found = []
    for contact_id in sorted(contacts, key=str):
        events = (
            ConsentEvent.objects.filter(contact_id=contact_id)
            .exclude(topic=None)
            .order_by("seq")
            .only("id", "purpose", "topic", "action", "occurred_at", "recorded_at")
        )
        rebuilt = replay_topics(events)
        stored = {
            (s.topic.purpose, s.topic.key): (s.status, s.last_event_id)
            for s in TopicState.objects.filter(contact_id=contact_id).select_related("topic")
        }
        for key in sorted(set(rebuilt) | set(stored)):
            want, last = rebuilt.get(key, (Standing(), None))
            have_status, have_last = stored.get(key, (Status.NONE, None))
            if have_status != want.status or last is None or have_last != last.pk:
                found.append(
                    StateDifference(contact_id, "/".join(key), str(have_status), str(want.status))
                )
    return found
