"""Who acts behind a request: the API key it authenticated with, or the staff user."""

from typing import Any

from rest_framework.request import Request


def acting(request: Request) -> Any:
    """The actor a staff audit row names (`staff.audit.record_audit` takes either)."""
    if request.auth is not None and hasattr(request.auth, "prefix"):
        return request.auth
    return request.user if request.user.is_authenticated else None
