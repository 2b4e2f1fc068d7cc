"""The base of every domain error: a stable `code`, the input `field` at fault, if any.

Apps raise their own subclasses; interfaces (the REST API, pages, the admin) read only these
attributes, so they map any app's refusals without importing that app.
"""

from typing import Any


class DomainError(Exception):
    code = "invalid"
    field: str | None = None
    # True: the request is well formed but clashes with the current state (HTTP 409).
    conflict = False

    def __init__(self, detail: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        if field:
            self.field = field

    def extra(self) -> dict[str, Any]:
        """Further facts for the error item (e.g. the current status)."""
        return {}
