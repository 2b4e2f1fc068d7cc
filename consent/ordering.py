"""Ordering: an opt-out always wins.

Events arrive late, twice and out of order, and sources stamp time coarsely
(WhatsApp: whole seconds). An event's place in a contact's history is its
*effective time*, `min(occurred_at, recorded_at)`: nothing takes effect before
we learned of it; the stated time is kept as evidence.

- A restrictive event (withdraw, pause, expire) applies unless an applied
  permissive one is later by more than the tie window. It is never refused
  for its timestamp.
- A permissive event (grant, legacy, request) applies only if it is strictly
  later than the latest applied event.

`weigh` is the one implementation: the recorder, the rebuild of states and the
bulk import all call it, so they cannot disagree.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from .rules import PERMISSIVE_ACTIONS, RESTRICTIVE_ACTIONS, Action, Status, next_status


def effective_time(occurred_at: datetime, recorded_at: datetime) -> datetime:
    return min(occurred_at, recorded_at)


def tie_window() -> timedelta:
    return timedelta(seconds=settings.CONSENT_TIE_SECONDS)


@dataclass(frozen=True)
class Standing:
    """What ordering needs to know of one (contact, purpose): the projection's core."""

    status: Status = Status.NONE
    # Latest effective time of any applied event.
    latest_at: datetime | None = None
    # Latest effective time of an applied permissive event.
    permissive_at: datetime | None = None


@dataclass(frozen=True)
class Weighed:
    applied: bool
    standing: Standing
    # True when the event lost on time (not on legality): a restrictive one
    # outranked by a later permissive answer is listed for staff.
    outranked: bool = False


def is_timely(standing: Standing, action: str, effective_at: datetime, tie: timedelta) -> bool:
    if action in RESTRICTIVE_ACTIONS:
        return standing.permissive_at is None or standing.permissive_at <= effective_at + tie
    return standing.latest_at is None or effective_at > standing.latest_at


def weigh(
    standing: Standing,
    action: str,
    effective_at: datetime,
    *,
    tie: timedelta | None = None,
    purpose: str = "",
) -> Weighed:
    """Where one event lands given the standing before it.

    Raises IllegalTransition when the event is timely but the ledger forbids
    the move; callers decide whether to keep it as evidence instead.
    """
    action = Action(action)
    if not is_timely(standing, action, effective_at, tie_window() if tie is None else tie):
        return Weighed(False, standing, outranked=action in RESTRICTIVE_ACTIONS)
    status = next_status(standing.status, action, purpose)
    latest = max(filter(None, (standing.latest_at, effective_at)))
    permissive = (
        max(filter(None, (standing.permissive_at, effective_at)))
        if action in PERMISSIVE_ACTIONS
        else standing.permissive_at
    )
    return Weighed(True, Standing(status, latest, permissive))
