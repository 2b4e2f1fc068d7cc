"""PostgreSQL's COPY text format, written by the worker processes (no connection needed)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False).translate(_ESCAPES)
    return str(value)


def copy_line(values: list[Any] | tuple[Any, ...]) -> str:
    return "\t".join([copy_value(v) for v in values]) + "\n"
