"""Fixed-window request limits for the public pages, kept in the Django cache."""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

_UNITS = {"s": 1, "m": 60, "h": 60 * 60, "d": 24 * 60 * 60}


def parse_rate(rate: str) -> tuple[int, int]:
    """'20/h' → (20, 3600)."""
    count, _, unit = rate.partition("/")
    return int(count), _UNITS[unit.strip().lower()[:1]]


def client_ip(request: HttpRequest) -> str:
    """The client address; with trusted proxies, the one the outermost proxy saw."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [
            part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        ]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def hit(limit_name: str, identity: str) -> int | None:
    """Count one request; returns seconds to wait when over the limit, else None."""
    count, window = parse_rate(settings.PAGES_RATE_LIMITS[limit_name])
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    now = int(time.time())
    key = f"pages-rl:{limit_name}:{digest}:{now // window}"
    cache.add(key, 0, timeout=window + 1)
    try:
        used = cache.incr(key)
    except ValueError:
        # The key expired between add and incr: this request opens a new window.
        cache.add(key, 1, timeout=window + 1)
        used = 1
    if used > count:
        return window - now % window
    return None


def first_limit_hit(checks: list[tuple[str, str]]) -> int | None:
    """Count the request against every (limit, identity); seconds to wait if any is exceeded."""
    waits = [wait for name, identity in checks if (wait := hit(name, identity)) is not None]
    return max(waits) if waits else None
