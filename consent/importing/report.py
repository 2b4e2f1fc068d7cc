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
    """Keeps the first REPORT_LIMIT problems in row order, and counts them all."""

    first: list[RowProblem] = field(default_factory=list)
    count: int = 0

    def add(self, problem: RowProblem) -> None:
        self.count += 1
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

    @property
    def ok(self) -> bool:
        return not self.errors and self.stopped_at_row is None

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
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportReport:
        report = cls(
            file_name=data.get("file_name", ""),
            dry_run=data.get("dry_run", False),
            **{key: data.get(key, 0) for key in cls().counts()},
            stopped_at_row=data.get("stopped_at_row"),
        )
        report.errors.extend(
            [RowProblem(**p) for p in data.get("errors", [])], data.get("error_count")
        )
        report.skipped.extend(
            [RowProblem(**p) for p in data.get("skipped", [])], data.get("skipped_count")
        )
        return report
