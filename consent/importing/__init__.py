"""Importing contacts and their consent at scale (see engine.py); exports in exporting.py."""

from .engine import Options, Progress, import_contacts
from .report import ImportReport, RowProblem

__all__ = ["ImportReport", "Options", "Progress", "RowProblem", "import_contacts"]
