"""A Redis cache that fails open: an outage never stops an opt-out.

The cache only holds rate-limit counters and throttling history. When Redis is
unreachable, reads miss, writes are dropped and counters read as the first
request of a window, so limits fail open (and say so in the log) while
eligibility, the preference centre, the opt-in form and the webhook keep
answering.
"""

import logging
from typing import Any

from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)


class FailOpenRedisCache(RedisCache):
    def _outage(self, operation: str, error: Exception, default: Any) -> Any:
        logger.warning("cache %s failed open (%s: %s)", operation, type(error).__name__, error)
        return default

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except Exception as error:
            return self._outage("get", error, default)

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except Exception as error:
            return self._outage("get_many", error, {})

    def add(self, key, value, timeout=None, version=None):
        try:
            return super().add(key, value, timeout, version)
        except Exception as error:
            return self._outage("add", error, True)

    def set(self, key, value, timeout=None, version=None):
        try:
            super().set(key, value, timeout, version)
        except Exception as error:
            self._outage("set", error, None)

    def set_many(self, data, timeout=None, version=None):
        try:
            return super().set_many(data, timeout, version)
        except Exception as error:
            return self._outage("set_many", error, [])

    def incr(self, key, delta=1, version=None):
        try:
            return super().incr(key, delta, version)
        except ValueError:
            raise  # a missing key: the caller's business, as with any cache
        except Exception as error:
            return self._outage("incr", error, delta)

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except Exception as error:
            return self._outage("delete", error, False)

    def touch(self, key, timeout=None, version=None):
        try:
            return super().touch(key, timeout, version)
        except Exception as error:
            return self._outage("touch", error, False)

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except Exception as error:
            return self._outage("has_key", error, False)
