"""Text that a spreadsheet shows as text: formula escaping for every export.

A spreadsheet runs a cell as a formula when its text starts with = + - @ (or a tab
or CR before one: OWASP's CSV injection list). Some programs drop leading spaces or
control characters when they read a file, and IME input turns full-width ＝ into =,
so a trigger behind any of those counts too. Such a cell is prefixed with a quote.
The quote is the last change: whatever else a writer does to text (the XLSX writer
drops control characters) happens first, then the check.
"""

import unicodedata
from typing import Any

# A cell starting with one of these is run as a formula by spreadsheet programs.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_TRIGGER_CHARACTERS = frozenset("=+-@")


def _ignorable(character: str) -> bool:
    # Spaces and control or format characters (zero-width space, BOM, direction marks).
    return character.isspace() or unicodedata.category(character) in ("Cc", "Cf")


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet might run `text` as a formula."""
    if text.startswith(FORMULA_TRIGGERS):
        return True
    for character in text:
        if not _ignorable(character):
            # Full-width and small forms (＝ ﹦ ＋ ﹢ …) are these characters to NFKC.
            return unicodedata.normalize("NFKC", character)[:1] in _TRIGGER_CHARACTERS
    return False


def escape_formula(value: Any) -> Any:
    """Make a text cell inert in a spreadsheet (OWASP CSV injection advice)."""
    if isinstance(value, str) and is_formula_like(value):
        return "'" + value
    return value
