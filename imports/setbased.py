"""New contacts written in SQL alone: no Python per row once the file is staged.

Most rows of a large import name nobody we know yet. Their plan does not depend
on any earlier ledger: every purpose starts from an empty standing, so where an
event lands is decided by its (purpose, action) alone. That outcome is asked of
`consent.ordering.weigh` here, once per pair, and handed to SQL as a small table;
the events (with their chain hashes, computed by PostgreSQL over the same
canonical serialisation as `consent.chain.canonical_bytes`), states and contacts
are then written by three INSERT … SELECT statements straight from the staging table
(`imports.sql`).

Rows this path does not take go through the planner (planning.py) as before:
rows naming an existing contact, and rows whose consent carries evidence (its
digest needs a random salt per event) or text outside ASCII (the idempotency
key is hashed over ASCII-escaped JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from consent.ordering import Standing, weigh
from consent.rules import IllegalTransition, Purpose, Source, Status

from . import sql
from .columns import STATUS_ACTIONS
from .planning import PlanContext


@dataclass
class Written:
    new_contacts: int = 0
    events: int = 0
    unapplied_events: int = 0


def _outcomes(ctx: PlanContext) -> list[sql.Outcome]:
    """(purpose, action) -> where an event lands on an empty standing."""
    outcomes = []
    for purpose in Purpose.values:
        for action in STATUS_ACTIONS.values():
            try:
                weighed = weigh(Standing(), action, ctx.now, purpose=purpose)
                applied, status = weighed.applied, weighed.standing.status
                permissive = weighed.standing.permissive_at is not None
            except IllegalTransition:
                applied, status, permissive = False, Status.NONE, False
            outcomes.append((purpose, str(action.value), applied, str(status.value), permissive))
    return outcomes


def _values(ctx: PlanContext) -> dict[str, Any]:
    """What every new contact and event of the import shares, by the name SQL gives it."""
    return {
        "now": ctx.now,
        "source": Source.IMPORT.value,
        "actor": ctx.actor_id,
        "deadline": ctx.deadline,
        "file": ctx.file_name,
        "language": ctx.default_language,
    }


def count(ctx: PlanContext) -> Written:
    """What `write` would write, without writing (a dry run)."""
    new_contacts, events, unapplied = sql.count_simple_rows(_outcomes(ctx), _values(ctx))
    return Written(new_contacts, events, unapplied)


def write(ctx: PlanContext) -> Written:
    """Insert the simple rows' contacts, events and states; their tags go to the bulk
    writer's tags table (written with the others' when it finishes)."""
    sql.assert_every_column_is_written()
    values = _values(ctx)
    new_contacts = sql.insert_simple_contacts(values)
    sql.insert_simple_tags(sql.TAGS)
    events, unapplied = sql.insert_simple_events_and_states(_outcomes(ctx), values)
    return Written(new_contacts, events, unapplied)
