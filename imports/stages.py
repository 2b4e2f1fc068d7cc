"""The two CPU-bound stages of an import, run batch by batch in the worker processes.

1. `check_batch`: raw cells -> checked rows (phones normalised) for the staging table.
2. `plan_batch`: staged rows (+ snapshots of the contacts they name) -> plans,
   counted, and on PostgreSQL encoded as COPY text for each table.

Both are pure: no database access, so they run in forked workers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from .columns import ContactLine, Header, RowRules, is_blank, parse_row
from .planning import LinePlan, PlanContext, Snapshot, plan_line
from .report import RowProblem
from .staging import encode_staged, staged_line
from .writing import encode_plans, withdrawn_event_ids

BATCH = 2000
ERASED = "this person was erased; an import never brings them back"


def batches(rows: Iterable[Any], size: int = BATCH) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def check_batch(
    rows: list[tuple[int, list[Any]]], header: Header, rules: RowRules, encode: bool
) -> tuple[Any, list[RowProblem], int]:
    """(the valid rows for the staging table, problems, rows counted) for one batch.

    With `encode`, the valid rows come as COPY text (PostgreSQL); otherwise as tuples.
    """
    lines: list[ContactLine] = []
    problems: list[RowProblem] = []
    counted = 0
    for number, cells in rows:
        if is_blank(cells):
            continue
        counted += 1
        line, found = parse_row(number, cells, header, rules)
        if line is None:  # parse_row gives no line exactly when it found problems
            problems += found
        else:
            lines.append(line)
    return encode_staged(lines, as_text=encode), problems, counted


@dataclass
class PlannedBatch:
    rows: int = 0
    new_contacts: int = 0
    updated_contacts: int = 0
    events: int = 0
    unapplied_events: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    skipped: list[RowProblem] = field(default_factory=list)
    texts: dict[str, str] | None = None
    withdrawn: list[str] = field(default_factory=list)


def plan_batch(
    rows: list[tuple], known: dict[uuid.UUID, Snapshot], ctx: PlanContext, encode: bool
) -> PlannedBatch:
    result = PlannedBatch(rows=len(rows))
    plans: list[LinePlan] = []
    for row in rows:
        line, contact_id, erased = staged_line(row)
        if erased:
            result.skipped.append(RowProblem(line.row, "", ERASED))
            continue
        plan, problems = plan_line(line, known.get(contact_id) if contact_id else None, ctx)
        if plan is None:  # plan_line gives no plan exactly when it found problems
            result.problems += problems
            continue
        plans.append(plan)
        if plan.created:
            result.new_contacts += 1
        elif plan.changes_anything:
            result.updated_contacts += 1
        result.events += len(plan.events)
        result.unapplied_events += plan.unapplied
    if encode and (ctx.valid_rows_only or not result.problems):
        result.texts = encode_plans(plans)
        result.withdrawn = withdrawn_event_ids(plans)
    return result
