"""One import, from file to ledger: read and check every row, then write all or nothing.

1. Stream the file; check each row in Python (phones normalised in batches as
   they are read) and load the checked rows into a temporary staging table.
2. Match rows to existing contacts and check across rows, in SQL.
3. Plan each row (contact changes, events weighed by the ordering rule and
   chained) and write: on PostgreSQL in one transaction, rows making new
   contacts by INSERT … SELECT from the staging table alone (setbased.py) and
   the others with COPY and set-based statements; on SQLite row by row through
   `record_consent`, in short transactions so beat and the worker keep running
   beside a long import.

Any invalid row stops the import before anything is written (all or nothing),
unless the import takes the valid rows only: then rows with problems are taken out
of the staging table (both paths read only what it holds) and the rest imported.
Either way the report keeps every problem of every row (the rejected rows file).
A dry run plans and counts but writes nothing.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, transaction
from django.utils import timezone

from consent.exceptions import InvalidConsent
from consent.models import ConsentNotice, ReconsentPolicy
from consent.services import active_policy, legacy_expiry
from consent.signals import consent_imported
from contacts.models import Contact

from . import setbased, sql, staging
from .columns import LIMITS, TAG_PATTERN, RowRules, is_blank, read_header
from .planning import PlanContext, load_snapshots
from .reading import ContactFile, UnreadableFile
from .report import ImportReport, RowProblem
from .rowwise import RowOutcome, RowRefused, import_line
from .stages import ERASED, batches, check_batch, plan_batch
from .workers import Workers
from .writing import BulkWriter

# Rows checked, staged and planned together.
CHUNK = 5000
# Rows read at a time on the row path; on SQLite a transaction also ends after
# BATCH_SECONDS, and the next waits PAUSE_SECONDS so other writers get their turn.
ROW_BATCH = 200
BATCH_SECONDS = 0.5
PAUSE_SECONDS = 0.15

# progress(phase, done, total): phase is "reading", "checking" or "writing".
Progress = Callable[[str, int, int | None], None]


def _no_progress(phase: str, done: int, total: int | None) -> None:
    pass


class _Rollback(Exception):
    pass


@dataclass(frozen=True)
class Options:
    dry_run: bool = False
    policy: ReconsentPolicy | None = None
    tag: str = ""
    actor: AbstractBaseUser | None = None
    # "fast" (PostgreSQL only), "rows", or None: fast on PostgreSQL, rows on SQLite.
    method: str | None = None
    # Processes checking rows (phone normalisation is CPU-bound); 1: this one only.
    workers: int = 1
    # Leave out the rows with problems and import the rest (otherwise: all or nothing).
    valid_rows_only: bool = False


def import_contacts(
    path: str | Path,
    *,
    name: str | None = None,
    options: Options = Options(),  # noqa: B008 (frozen)
    progress: Progress = _no_progress,
) -> ImportReport:
    """Import a CSV or XLSX file of contacts with their consent; see imports.columns."""
    report = ImportReport(
        file_name=name or Path(path).name,
        dry_run=options.dry_run,
        valid_rows_only=options.valid_rows_only,
    )
    fast = (options.method or ("fast" if sql.is_postgres() else "rows")) == "fast"
    if fast and not sql.is_postgres():
        raise ValueError("the fast path needs PostgreSQL")
    now = timezone.now()
    deadline, legacy_problem = _deadline(options.policy, now)
    if options.tag and (len(options.tag) > LIMITS["tag"] or not TAG_PATTERN.match(options.tag)):
        report.errors.add(RowProblem(0, "tag", f"'{options.tag}' is not a tag"))
        return report
    rules = RowRules(
        notices=_notices(),
        legacy_problem=legacy_problem,
        now=now,
        extra_tags=(options.tag,) if options.tag else (),
    )
    ctx = PlanContext(
        now=now,
        deadline=deadline,
        file_name=report.file_name,
        actor_id=options.actor.pk if options.actor else None,
        default_language=Contact._meta.get_field("language").get_default(),
        valid_rows_only=options.valid_rows_only,
    )
    try:
        source = ContactFile(path, name=report.file_name)
    except (OSError, UnreadableFile) as exc:
        report.errors.add(RowProblem(0, "", str(exc)))
        return report

    with Workers(options.workers) as workers:
        run = _Run(source, rules, ctx, report, progress, options, workers)
        if sql.is_postgres():
            run.on_postgres(fast=fast)
        else:
            run.on_sqlite()
    return report


@dataclass
class _Run:
    """One import's parts, as the two databases put them together."""

    source: ContactFile
    rules: RowRules
    ctx: PlanContext
    report: ImportReport
    progress: Progress
    options: Options
    workers: Workers

    def on_postgres(self, *, fast: bool) -> None:
        """All in one transaction, undone by a dry run or any failure."""
        report, options = self.report, self.options
        try:
            with transaction.atomic():
                _stage_and_check(self.source, self.rules, report, self.progress, self.workers)
                if _stops(report):
                    raise _Rollback
                _leave_out_rejected(report)
                if fast or options.dry_run:
                    write = not options.dry_run
                    _plan_and_write(self.ctx, report, self.progress, self.workers, write=write)
                else:
                    _import_rows(self.ctx, report, self.progress, options, in_batches=False)
                if options.dry_run or not report.ok:
                    raise _Rollback
                sql.drop_staging_tables()
        except _Rollback:
            pass

    def on_sqlite(self) -> None:
        """The staging table is temporary (its own file), so reading and checking never
        hold the database's write lock for long; rows are written in short batches."""
        report = self.report
        try:
            _stage_and_check(self.source, self.rules, report, self.progress, self.workers)
            if not _stops(report):
                # Planning first finds every problem that needs a contact's details
                # before any batch is committed.
                _leave_out_rejected(report)
                _plan_and_write(self.ctx, report, self.progress, self.workers, write=False)
            if not _stops(report) and not self.options.dry_run:
                _leave_out_rejected(report)
                _reset_counts(report)
                _import_rows(self.ctx, report, self.progress, self.options, in_batches=True)
        finally:
            sql.drop_staging_tables()


def _stops(report: ImportReport) -> bool:
    """Whether what was found so far stops the import (or the check) here."""
    return report.refused_as_a_whole or (bool(report.errors) and not report.valid_rows_only)


def _leave_out_rejected(report: ImportReport) -> None:
    if report.valid_rows_only and report.errors.by_row:
        staging.leave_out(report.errors.by_row)


def _deadline(policy: ReconsentPolicy | None, now: datetime) -> tuple[datetime | None, str | None]:
    """The deadline legacy consent gets, or why legacy consent cannot be imported."""
    chosen = policy or active_policy()
    if chosen is None:
        return None, "legacy consent needs an active re-consent policy (or --policy)"
    if chosen.deadline <= now:
        return None, (
            f"the re-consent deadline ({chosen.deadline:%Y-%m-%d %H:%M}) has passed: "
            "legacy consent can no longer be imported"
        )
    try:
        # The bound record_consent applies: never past the active policy's deadline.
        return legacy_expiry(chosen.deadline), None
    except InvalidConsent as exc:
        return None, exc.detail


def _notices() -> dict[str, tuple[int, str, bool]]:
    return {
        n.ref: (n.pk, n.purpose, n.is_published)
        # A topic's notice is not a purpose's: an import records purposes only.
        for n in ConsentNotice.objects.filter(topic__isnull=True).only(
            "pk", "purpose", "language", "version", "published_at"
        )
    }


class _Ticker:
    """Calls progress at most a few times a second."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.last = 0.0

    def __call__(self, phase: str, done: int, total: int | None, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= 0.25:
            self.last = now
            self.progress(phase, done, total)


def _stage_and_check(
    source: ContactFile, rules: RowRules, report: ImportReport, progress: Progress, workers: Workers
) -> None:
    tick = _Ticker(progress)
    sql.create_staging_table()
    encode = sql.is_postgres()
    try:
        rows = source.rows()
        header = None
        for _number, cells in rows:
            if is_blank(cells):
                continue
            header, problems = read_header(cells)
            report.errors.extend(problems)
            break
        if header is None:
            if not report.errors:
                report.errors.add(RowProblem(0, "", "the file is empty"))
            return
        tasks = ((batch, header, rules, encode) for batch in batches(rows))
        for data, problems, counted in workers.ordered_map(check_batch, tasks):
            report.rows += counted
            report.errors.extend(problems)
            staging.load(data)
            fraction = source.fraction_read
            estimate = int(report.rows / fraction) if fraction > 0.01 else None
            tick("reading", report.rows, estimate)
    except UnreadableFile as exc:
        report.errors.add(RowProblem(0, "", str(exc)))
        return
    tick("checking", report.rows, report.rows, force=True)
    sql.match_staged_rows()
    for check in (*staging.duplicates(), staging.conflicts()):
        report.errors.extend(check.problems, check.count)


def _plan_and_write(
    ctx: PlanContext, report: ImportReport, progress: Progress, workers: Workers, *, write: bool
) -> None:
    tick = _Ticker(progress)
    writer = BulkWriter(ctx.now) if write else None
    if write:
        sql.lock_matched_contacts()

    done, leaving_out = 0, None
    if sql.is_postgres():
        # Rows making new contacts are planned and written in SQL alone.
        sql.select_simple_rows()
        written = setbased.write(ctx) if writer else setbased.count(ctx)
        report.new_contacts += written.new_contacts
        report.events += written.events
        report.unapplied_events += written.unapplied_events
        done, leaving_out = written.new_contacts, sql.SIMPLE
        tick("writing" if write else "checking", done, report.rows)

    def tasks():
        for rows in staging.staged_rows(CHUNK, leaving_out=leaving_out):
            known = load_snapshots(filter(None, map(staging.named_contact, rows)))
            yield rows, known, ctx, write

    for batch in workers.ordered_map(plan_batch, tasks()):
        report.new_contacts += batch.new_contacts
        report.updated_contacts += batch.updated_contacts
        report.events += batch.events
        report.unapplied_events += batch.unapplied_events
        report.errors.extend(batch.problems)
        for skipped in batch.skipped:
            report.skipped.add(skipped)
        done += batch.rows
        if writer is not None and batch.texts and not _stops(report):
            writer.write(batch.texts, batch.withdrawn)
        tick("writing" if write else "checking", done, report.rows)
    report.skipped_rows = (
        report.rows - report.new_contacts - report.updated_contacts - report.rejected_rows
    )
    if writer is not None and not _stops(report):
        writer.finish()
        consent_imported.send(sender=None, at=ctx.now)
    tick("writing" if write else "checking", report.rows, report.rows, force=True)


def _reset_counts(report: ImportReport) -> None:
    report.new_contacts = report.updated_contacts = report.events = 0
    report.unapplied_events = report.skipped_rows = 0
    report.skipped.first.clear()
    report.skipped.count = 0


def _import_rows(
    ctx: PlanContext,
    report: ImportReport,
    progress: Progress,
    options: Options,
    *,
    in_batches: bool,
) -> None:
    tick = _Ticker(progress)
    notices = {n.pk: n for n in ConsentNotice.objects.filter(topic__isnull=True)}
    done = 0
    for rows in staging.staged_rows(ROW_BATCH):
        pending = deque(staging.staged_line(row) for row in rows)
        while pending:
            first = pending[0][0].row
            try:
                with transaction.atomic():
                    started = time.monotonic()
                    while pending:
                        line, contact_id, erased = pending.popleft()
                        done += 1
                        if erased:
                            report.skipped.add(RowProblem(line.row, "", ERASED))
                        elif options.valid_rows_only:
                            _import_or_reject(line, contact_id, ctx, report, options, notices)
                        else:
                            _count(
                                report,
                                import_line(
                                    line, contact_id, ctx, actor=options.actor, notices=notices
                                ),
                            )
                        if in_batches and time.monotonic() - started > BATCH_SECONDS:
                            break
            except RowRefused as exc:
                report.errors.extend(exc.problems)
                report.stopped_at_row = first
            except (DatabaseError, InvalidConsent) as exc:
                # Something changed since the check (a contact took an identifier meanwhile).
                report.stopped_at_row = first
                report.errors.add(RowProblem(first, "", f"stopped here: {exc}"))
            if report.stopped_at_row is not None:
                _stopped(report, first, in_batches=in_batches)
                return
            if in_batches:
                # SQLite has one writer at a time and waiters poll every 100 ms:
                # without a pause the import would take the lock straight back and
                # starve beat and the worker until their busy timeout.
                time.sleep(PAUSE_SECONDS)
            tick("writing", done, report.rows)
    report.skipped_rows = (
        report.rows - report.new_contacts - report.updated_contacts - report.rejected_rows
    )
    tick("writing", done, report.rows, force=True)


def _stopped(report: ImportReport, first: int, *, in_batches: bool) -> None:
    if in_batches:
        report.errors.add(
            RowProblem(
                first,
                "",
                "rows before this one were imported; importing the file again completes it",
            )
        )
    report.skipped_rows = 0


def _count(report: ImportReport, outcome: RowOutcome) -> None:
    report.new_contacts += outcome.created
    report.updated_contacts += outcome.changed and not outcome.created
    report.events += len(outcome.events)
    report.unapplied_events += sum(1 for e in outcome.events if not e.applied)


def _import_or_reject(line, contact_id, ctx, report, options, notices) -> None:
    """One row in a savepoint of its own: a row refused now is rejected, the rest go on."""
    try:
        with transaction.atomic():
            outcome = import_line(line, contact_id, ctx, actor=options.actor, notices=notices)
    except RowRefused as exc:
        report.errors.extend(exc.problems)
        return
    except (DatabaseError, InvalidConsent) as exc:
        # Something changed since the check (a contact took an identifier meanwhile).
        report.errors.add(RowProblem(line.row, "", f"cannot be imported now: {exc}"))
        return
    _count(report, outcome)
