"""Whole-ledger passes: verify every chain, rebuild every state, in one streamed scan.

Each pass reads the ledger once through a server-side cursor ordered by
(contact, seq) and does its work in a tight loop over plain rows: the chain is
checked with `consent.chain.chained_hash`, states are replayed with
`consent.services.replay` (the ordering rule of the recorder). With `workers`
> 1 on PostgreSQL the contacts are split by id range, one process and one
connection each. `on_progress(n)` is told of every n events done.
"""

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import psycopg
from django.db import connection, transaction
from django.db.models import ForeignKey, UUIDField
from django.utils.dateparse import parse_datetime

from contacts.models import Contact
from core.processes import run_forked

from .chain import CHAINED_FIELDS, PERSONAL_FIELDS, ChainCheck, chained_hash, unverifiable
from .models import ConsentEvent, ConsentEvidence, ConsentState
from .ordering import Standing
from .rules import Status
from .services import StateDifference, _project, replay

FETCH = 5000
REPORT_EVERY = 10_000
Progress = Callable[[int], None] | None
Bounds = tuple[uuid.UUID | None, uuid.UUID | None]


# --- Reading the ledger as plain rows ---------------------------------------------------


def _is_uuid(model_field) -> bool:
    target = model_field.target_field if isinstance(model_field, ForeignKey) else model_field
    return isinstance(target, UUIDField)


def _select(
    model, names: tuple[str, ...], bounds: Bounds, order: tuple[str, ...]
) -> tuple[str, list]:
    """SELECT of `names` (model field names) for contacts within `bounds`, ids as text."""
    postgres = connection.vendor == "postgresql"
    quote = connection.ops.quote_name
    columns = []
    for name in names:
        column = quote(model._meta.get_field(name).column)
        columns.append(
            f"{column}::text" if postgres and _is_uuid(model._meta.get_field(name)) else column
        )
    where, params = [], []
    contact = quote(model._meta.get_field("contact").column)
    uuid_field = Contact._meta.pk
    if bounds[0] is not None:
        where.append(f"{contact} >= %s")
        params.append(uuid_field.get_db_prep_value(bounds[0], connection))
    if bounds[1] is not None:
        where.append(f"{contact} < %s")
        params.append(uuid_field.get_db_prep_value(bounds[1], connection))
    sql = f"SELECT {', '.join(columns)} FROM {quote(model._meta.db_table)}"  # noqa: S608
    if where:
        sql += f" WHERE {' AND '.join(where)}"
    # By the stored columns (not the text casts), so the (contact, …) index serves it.
    ordering = ", ".join(quote(model._meta.get_field(name).column) for name in order)
    return f"{sql} ORDER BY {ordering}", params


def _converters(model, names: tuple[str, ...]) -> list[tuple[int, Callable[[Any], Any]]]:
    """What turns a column as the driver returns it into the plain value hashed."""
    postgres = connection.vendor == "postgresql"
    found: list[tuple[int, Callable[[Any], Any]]] = []
    for i, name in enumerate(names):
        model_field = model._meta.get_field(name)
        kind = model_field.get_internal_type()
        if kind == "JSONField":
            found.append((i, _json))
        elif postgres:
            continue
        elif _is_uuid(model_field):
            found.append((i, _uuid_text))
        elif kind == "DateTimeField":
            found.append((i, _instant))
        elif kind == "BooleanField":
            found.append((i, _bool))
    return found


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _uuid_text(value: Any) -> str | None:
    return None if value is None else str(uuid.UUID(str(value)))


def _instant(value: Any) -> Any:
    # SQLite gives naive UTC datetimes (or text, without its converters).
    if isinstance(value, str):
        value = parse_datetime(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _bool(value: Any) -> Any:
    return None if value is None else bool(value)


def _stream(
    model, names: tuple[str, ...], bounds: Bounds, order: tuple[str, ...]
) -> Iterator[list]:
    """Rows (lists, in `names` order) through one server-side cursor, inside a transaction."""
    sql, params = _select(model, names, bounds, order)
    convert = _converters(model, names)
    # chunked_cursor is a named (server-side) cursor on PostgreSQL; inside a
    # transaction it streams instead of materialising WITH HOLD.
    with connection.chunked_cursor() as cursor:
        if connection.vendor == "postgresql":
            _compiled_instants(cursor.cursor)
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH):
            for row in rows:
                row = list(row)
                for i, to_plain in convert:
                    row[i] = to_plain(row[i])
                yield row


def _compiled_instants(cursor: Any) -> None:
    """Load timestamptz with psycopg's compiled loader on this cursor.

    Django registers a pure-Python one (to attach the connection's zone, UTC here):
    measured, a fifth of a whole-ledger pass.
    """
    oid = psycopg.postgres.types["timestamptz"].oid
    cursor.adapters.register_loader(oid, psycopg.adapters.get_loader(oid, psycopg.pq.Format.TEXT))


def estimated_events() -> int:
    """The ledger's size for a progress bar: the planner's estimate, else a count."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [ConsentEvent._meta.db_table],
            )
            row = cursor.fetchone()
        if row and row[0] > 0:
            return row[0]
    return ConsentEvent.objects.count()


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
    """Check every contact's chain; each broken one is reported at its first broken link."""
    total = LedgerVerification()
    for part in _run(_verify_range, workers, on_progress):
        total.chains += part.chains
        total.events += part.events
        total.broken += part.broken
    return total


def _verify_range(*, bounds: Bounds, on_progress: Progress) -> LedgerVerification:
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
        for row in _stream(ConsentEvent, names, bounds, ("contact", "seq")):
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


_EVENT_FIELDS = ("id", "contact", "seq", "purpose", "action", "occurred_at", "recorded_at")
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
    if not write:
        return differences
    for contact_id in dict.fromkeys(d.contact_id for d in differences):
        _rebuild_contact(contact_id)
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
            for row in _stream(ConsentEvent, _EVENT_FIELDS, bounds, ("contact", "seq"))
        )
        states = _stream(ConsentState, _STATE_FIELDS, bounds, ("contact", "purpose"))
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


def _rebuild_contact(contact_id: uuid.UUID) -> None:
    with transaction.atomic():
        Contact.objects.select_for_update().only("pk").get(pk=contact_id)
        events = ConsentEvent.objects.filter(contact_id=contact_id).order_by("seq")
        rebuilt = replay(events.iterator(chunk_size=500))
        stored = {s.purpose: s for s in ConsentState.objects.filter(contact_id=contact_id)}
        for purpose in set(rebuilt) | set(stored):
            want, last = rebuilt.get(purpose, (Standing(), None))
            have = stored.get(purpose)
            if last is not None:
                # The projection of the recorder itself: one rule for both.
                _project(have or ConsentState(contact_id=contact_id, purpose=purpose), last, want)
            elif have is not None:
                have.delete()
