"""Scopes: a view names its area; reading needs `<area>:read`, anything else `<area>:write`."""

from typing import TYPE_CHECKING

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from .models import ApiKey

if TYPE_CHECKING:
    from rest_framework.views import APIView


def required_scope(request: Request, view: "APIView") -> str:
    """The scope this request needs; a view may override with `required_scopes[method]`."""
    explicit = getattr(view, "required_scopes", {}).get(request.method)
    if explicit:
        return explicit
    access = "read" if request.method in SAFE_METHODS else "write"
    return f"{getattr(view, 'scope_prefix', '')}:{access}"


class HasScope(BasePermission):
    message = "This API key does not have the scope this request needs."

    def has_permission(self, request: Request, view: "APIView") -> bool:
        if isinstance(request.auth, ApiKey):
            scope = required_scope(request, view)
            self.message = f"This API key lacks the '{scope}' scope."
            return request.auth.has_scope(scope)
        user = request.user
        if not (user and user.is_authenticated and user.is_staff):
            return False
        return staff_may(user, required_scope(request, view))


def staff_may(user, scope: str) -> bool:
    """A staff session (the browsable API) reads every area; it writes to an area where
    the admin lets it change something. Views may still ask for a finer permission."""
    area, _, access = scope.partition(":")
    if user.is_superuser or access == "read":
        return True
    return any(
        perm.startswith(f"{area}.") and not perm.startswith(f"{area}.view_")
        for perm in user.get_all_permissions()
    )
