"""Rate limits per API key (or per staff user), rates from settings."""

from typing import TYPE_CHECKING

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from .models import ApiKey

if TYPE_CHECKING:
    from rest_framework.views import APIView


class ApiKeyRateThrottle(SimpleRateThrottle):
    """`API_THROTTLE_RATE` per key; a view may name another scope in `throttle_scope`."""

    scope = "api_key"

    def __init__(self) -> None:
        # The rate is read per request, so settings overridden in tests apply.
        pass

    def allow_request(self, request: Request, view: "APIView") -> bool:
        self.scope = getattr(view, "throttle_scope", None) or type(self).scope
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_rate(self) -> str | None:
        # Rates are strings ("100/minute"); the stubs type them as numbers.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)  # type: ignore[return-value]

    def get_cache_key(self, request: Request, view: "APIView") -> str | None:
        if isinstance(request.auth, ApiKey):
            ident = f"key:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
