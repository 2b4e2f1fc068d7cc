import os
import sys
import time
from typing import TYPE_CHECKING, cast

from django.core.management.base import BaseCommand, CommandError

from consent.models import ReconsentPolicy
from imports.columns import KNOWN_COLUMNS
from imports.engine import Options, import_contacts
from imports.report import ImportReport

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

PHASES = {"reading": "Reading and checking rows", "checking": "Checking", "writing": "Writing"}


class Command(BaseCommand):
    help = (
        "Import contacts and the consent they gave before (legacy) or withdrew (opted_out) "
        "from a CSV or XLSX file. All or nothing: any invalid row and nothing is written. "
        f"Columns: {', '.join(sorted(KNOWN_COLUMNS))}, attr:<key>."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "file", help="a .csv (UTF-8) or .xlsx file; the first row names columns"
        )
        parser.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
        parser.add_argument(
            "--policy",
            type=int,
            help="id of the re-consent policy whose deadline ends legacy consent "
            "(default: the active one)",
        )
        parser.add_argument("--tag", default="", help="a tag added to every imported contact")
        parser.add_argument(
            "--workers",
            type=int,
            default=os.cpu_count() or 1,
            help="processes checking rows and hashing the ledger (default: one per core)",
        )

    def handle(self, *args, **options) -> None:
        policy = None
        if options["policy"] is not None:
            policy = ReconsentPolicy.objects.filter(pk=options["policy"]).first()
            if policy is None:
                raise CommandError(f"there is no re-consent policy {options['policy']}")
        settings = Options(
            dry_run=options["dry_run"],
            policy=policy,
            tag=options["tag"],
            workers=max(1, options["workers"]),
        )
        with _progress_display(self.stdout) as progress:
            report = import_contacts(options["file"], options=settings, progress=progress)
        self._print(report)
        if not report.ok:
            raise CommandError(
                f"{report.errors.count:,} problem(s); nothing was written"
                if report.stopped_at_row is None
                else f"stopped at row {report.stopped_at_row}"
            )

    def _print(self, report: ImportReport) -> None:
        if report.errors:
            shown = report.errors.shown()
            self.stderr.write(f"{report.file_name}: {report.errors.count:,} problem(s)")
            for problem in shown:
                self.stderr.write(f"  {problem}")
            if report.errors.count > len(shown):
                self.stderr.write(f"  … and {report.errors.count - len(shown):,} more")
            return
        for problem in report.skipped.shown():
            self.stdout.write(f"  skipped {problem}")
        self.stdout.write(self.style.SUCCESS(report.summary()))


class _progress_display:
    """A progress bar on a terminal (rich); plain periodic lines otherwise (logs, pipes)."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty() and sys.stdout.isatty()
        self.bar: Progress | None = None
        # The bar's task ids while it draws; otherwise only which phases have been seen.
        self.tasks: dict[str, TaskID] = {}
        self.last_line = 0.0

    def __enter__(self):
        if self.tty:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                transient=False,
            )
            self.bar.start()
        return self.update

    def update(self, phase: str, done: int, total: int | None) -> None:
        if self.bar is not None:
            if phase not in self.tasks:
                for task in self.tasks.values():
                    self.bar.update(task, completed=self.bar.tasks[task].total)
                self.tasks[phase] = self.bar.add_task(PHASES.get(phase, phase), total=total)
            self.bar.update(self.tasks[phase], completed=done, total=total)
            return
        now = time.monotonic()
        if now - self.last_line >= 5 or phase not in self.tasks:
            self.tasks.setdefault(phase, cast("TaskID", 0))
            self.last_line = now
            of = f" of {total:,}" if total else ""
            self.stream.write(f"{PHASES.get(phase, phase)}: {done:,}{of} rows")

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
