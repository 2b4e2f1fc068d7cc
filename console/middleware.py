import zoneinfo
from collections.abc import Callable

from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse
from django.utils import timezone

# The admin theme (django-unfold) drives its menus, tabs and filters with Alpine.js
# expressions written in its templates' x- attributes. Alpine evaluates them with
# the Function constructor, which a CSP refuses without 'unsafe-eval'; Alpine's
# CSP build cannot read unfold's expressions (arrow functions, object literals).
# So the staff-only admin gets 'unsafe-eval' (still no inline or foreign script:
# a page can only run our own files); the theme's colours, which it would write in
# an inline <style>, come from a static file (console.theme). The customer pages
# keep the strict policy.
ADMIN_ADDITIONS = {"script-src": ["'unsafe-eval'"]}


class AdminCSPMiddleware(CSPMiddleware):
    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        # A response exempt from both policies (a machine's endpoint, the WhatsApp
        # webhook) has no header to write: not building both policies was a tenth of
        # the webhook's CPU.
        if getattr(response, "_csp_exempt", False) and getattr(response, "_csp_exempt_ro", False):
            return response
        return super().process_response(request, response)

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and request.path_info.startswith(reverse("admin:index")):
            parts.update = {**ADMIN_ADDITIONS, **(parts.update or {})}
        return parts


# The staff user's time zone, as their browser reports it (console.js sets the cookie).
TIME_ZONE_COOKIE = "console_tz"


class StaffTimeZoneMiddleware:
    """Admin pages show instants in the staff user's own time zone, not the server's."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        name = request.COOKIES.get(TIME_ZONE_COOKIE, "")
        zone = None
        if name and request.path_info.startswith(reverse("admin:index")):
            try:
                zone = zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                zone = None
        if zone is None:
            return self.get_response(request)
        with timezone.override(zone):
            return self.get_response(request)
