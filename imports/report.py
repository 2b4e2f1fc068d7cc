"""What an import did (or would do): counts, errors by row and column, skipped rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The report names the first ones and counts the rest.
REPORT_LIMIT = 100


@dataclass(frozen=True, order=True)
class RowProblem:
    """One reason a row cannot be imported (or was skipped); row 1 is the header."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "file"
        return (
            f"{where}, {self.column}: {self.message}" if self.column else f"{where}: {self.message}"
        )


@dataclass
class Problems:
    """Keeps the first REPORT_LIMIT problems in row order, and counts them all.

    `by_row`, when kept, holds every problem of every row (the rejected rows file
    needs them all); `of_file` counts those about the file as a whole (rows 0 and 1).
    """

    first: list[RowProblem] = field(default_factory=list)
    count: int = 0
    by_row: dict[int, list[str]] | None = None
    of_file: int = 0

    def add(self, problem: RowProblem) -> None:
        self.count += 1
        if problem.row <= 1:
            self.of_file += 1
        elif self.by_row is not None:
            words = f"{problem.column}: {problem.message}" if problem.column else problem.message
            self.by_row.setdefault(problem.row, []).append(words)
        self.first.append(problem)
        if len(self.first) > 4 * REPORT_LIMIT:
            self._trim()

    def extend(self, problems: list[RowProblem], count: int | None = None) -> None:
        for problem in problems:
            self.add(problem)
        if count is not None and count > len(problems):
            self.count += count - len(problems)

    def _trim(self) -> None:
        self.first = sorted(set(self.first))[:REPORT_LIMIT]

    def shown(self) -> list[RowProblem]:
        self._trim()
        return self.first

    def __bool__(self) -> bool:
        return self.count > 0


@dataclass
class ImportReport:
    file_name: str = ""
    dry_run: bool = False
    rows: int = 0
    new_contacts: int = 0
    updated_contacts: int = 0
    events: int = 0
    unapplied_events: int = 0
    skipped_rows: int = 0
    errors: Problems = field(default_factory=Problems)
    skipped: Problems = field(default_factory=Problems)
    # Set when writing stopped part-way (SQLite writes in batches): rows before it are in.
    stopped_at_row: int | None = None
    # Rows with problems are left out and the rest imported (otherwise: all or nothing).
    valid_rows_only: bool = False
    # Rows refused (with valid_rows_only, left out); as counted when read back from a dict.
    counted_rejected: int = 0

    def __post_init__(self) -> None:
        if self.errors.by_row is None:
            self.errors.by_row = {}

    @property
    def rejected_rows(self) -> int:
        """How many rows (not the header) have at least one problem."""
        return len(self.errors.by_row) if self.errors.by_row else self.counted_rejected

    @property
    def refused_as_a_whole(self) -> bool:
        """The file itself cannot be imported (a limit, its header, its encoding)."""
        return self.errors.of_file > 0

    @property
    def ok(self) -> bool:
        if self.stopped_at_row is not None or self.refused_as_a_whole:
            return False
        return self.valid_rows_only or not self.errors

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "new_contacts": self.new_contacts,
            "updated_contacts": self.updated_contacts,
            "events": self.events,
            "unapplied_events": self.unapplied_events,
            "skipped_rows": self.skipped_rows,
        }

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        return (
            f"{verb} {self.rows:,} rows: {self.new_contacts:,} new contacts, "
            f"{self.updated_contacts:,} updated contacts, {self.events:,} consent events "
            f"({self.unapplied_events:,} kept as evidence only: older than a newer answer), "
            f"{self.skipped_rows:,} rows skipped"
            + (f", {self.rejected_rows:,} rows rejected" if self.rejected_rows else "")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "file_name": self.file_name,
            "dry_run": self.dry_run,
            **self.counts(),
            "errors": [asdict(p) for p in self.errors.shown()],
            "error_count": self.errors.count,
            "skipped": [asdict(p) for p in self.skipped.shown()],
            "skipped_count": self.skipped.count,
            "stopped_at_row": self.stopped_at_row,
            "rejected_rows": self.rejected_rows,
            "valid_rows_only": self.valid_rows_only,
            "file_problem_count": self.errors.of_file,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportReport:
        report = cls(
            file_name=data.get("file_name", ""),
            dry_run=data.get("dry_run", False),
            **{key: data.get(key, 0) for key in cls().counts()},
            stopped_at_row=data.get("stopped_at_row"),
            valid_rows_only=data.get("valid_rows_only", False),
            counted_rejected=data.get("rejected_rows", 0),
        )
        report.errors.by_row = None
        report.errors.extend(
            [RowProblem(**p) for p in data.get("errors", [])], data.get("error_count")
        )
        report.skipped.extend(
            [RowProblem(**p) for p in data.get("skipped", [])], data.get("skipped_count")
        )
        return report
