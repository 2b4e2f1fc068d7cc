"""Who may call what: an API key by its scopes, a staff session by its admin role.

A key: a view names its area (`scope_prefix`); reading needs `<area>:read`, anything
else `<area>:write`, unless the view names another scope in `required_scopes[method]`.

A staff session (the browsable API) holds exactly the permissions its admin role
gives it, no more: each view declares, per action (a viewset's) or per method (a
plain view's), the Django permissions that action needs in the admin, in
`staff_permissions`. An action a view does not declare is refused to every session,
superusers included: what the admin lets no one do (record a person's opt-in, answer
an invitation for them), the API does not either.
"""

from typing import TYPE_CHECKING

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from .models import ApiKey

if TYPE_CHECKING:
    from rest_framework.views import APIView


def required_scope(method: str, view: "APIView") -> str:
    """The scope a key needs for `method` on `view`."""
    explicit = getattr(view, "required_scopes", {}).get(method)
    if explicit:
        return explicit
    access = "read" if method in SAFE_METHODS else "write"
    return f"{getattr(view, 'scope_prefix', '')}:{access}"


def required_staff_permissions(method: str, view: "APIView") -> tuple[str, ...] | None:
    """The admin permissions a staff session needs for `method` on `view`; None: refused."""
    declared: dict[str, tuple[str, ...]] = getattr(view, "staff_permissions", {})
    action = getattr(view, "action", None)
    if method == "OPTIONS" or action == "metadata":
        # Describing an endpoint is reading it.
        for reading in ("list", "retrieve", "GET"):
            if reading in declared:
                return declared[reading]
        return None
    if action:
        return declared.get(action)
    return declared.get("GET" if method == "HEAD" else method)


def is_staff_session(request: Request) -> bool:
    """A signed-in staff user, not an API key."""
    user = request.user
    return (
        not isinstance(request.auth, ApiKey)
        and bool(user and user.is_authenticated)
        and bool(getattr(user, "is_staff", False))
    )


def holds(request: Request, *, scope: str, staff_permission: str) -> bool:
    """A key holding `scope`, or a staff session whose role has `staff_permission`."""
    if isinstance(request.auth, ApiKey):
        return request.auth.has_scope(scope)
    return is_staff_session(request) and request.user.has_perm(staff_permission)


class HasScope(BasePermission):
    message = "This API key does not have the scope this request needs."

    def has_permission(self, request: Request, view: "APIView") -> bool:
        method = request.method or "GET"
        if isinstance(request.auth, ApiKey):
            scope = required_scope(method, view)
            self.message = f"This API key lacks the '{scope}' scope."
            return request.auth.has_scope(scope)
        if not is_staff_session(request):
            self.message = "Use an API key, or sign in to the admin as staff."
            return False
        if not _routed(method, view):
            return True  # no such operation: DRF answers 405
        needed = required_staff_permissions(method, view)
        if needed is None:
            self.message = "No staff role may do this through the API (nor in the admin)."
            return False
        missing = [perm for perm in needed if not request.user.has_perm(perm)]
        if missing:
            self.message = f"Your admin role lacks {', '.join(missing)}."
            return False
        return True


def _routed(method: str, view: "APIView") -> bool:
    name = method.lower()
    return name in view.http_method_names and hasattr(view, name)
