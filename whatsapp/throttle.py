"""Throughput per sending number, across every worker: a token bucket in Redis.

Meta counts messages per second per business phone number (80 by default, up
to 1,000 once the platform raises it). Celery's own `rate_limit` counts per
worker process, so two workers would send twice the rate; a bucket kept in
Redis is shared by all of them, and one Lua call both refills and takes, so no
two workers take the same token. The bucket holds a tenth of a second's worth
of tokens (at least one): enough to absorb a worker's jitter, small enough that
no second ever carries much more than the rate.

A worker that finds the bucket empty is told how long until the next token and
schedules the rest of its work that much later (a Celery countdown); nothing
sleeps. Without Redis (the embedded `make run` set-up: one worker) the bucket
lives in the process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings

from .exceptions import TemporaryFailure
from .models import SendingNumber

BURST_SECONDS = 0.1
RATE_CACHE_SECONDS = 30
MAX_RATE = 1000

# KEYS[1]: the bucket. ARGV: rate (tokens/s), capacity (tokens), tokens wanted.
# Returns {tokens granted (up to those wanted), milliseconds until the next one if none}.
# Redis's own clock, so workers on several machines agree.
_TAKE = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil then
  tokens = capacity
  at = now
end
tokens = math.min(capacity, tokens + (now - at) * rate / 1000)
local granted = math.min(wanted, math.floor(tokens))
local wait = 0
if granted >= 1 then
  tokens = tokens - granted
else
  granted = 0
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity * 1000 / rate) + 1000)
return {granted, wait}
"""


@dataclass
class _LocalBucket:
    tokens: float
    at: float


_local: dict[str, _LocalBucket] = {}
_local_lock = threading.Lock()
_redis_clients: dict[str, redis.Redis] = {}
_scripts: dict[str, object] = {}
# phone_number_id → (rate, read at): a worker reads the figure twice a minute, not per send.
_rates: dict[str, tuple[int, float]] = {}


def capacity(rate: int) -> int:
    return max(1, int(rate * BURST_SECONDS))


def rate_for(phone_number_id: str) -> int:
    """Messages per second for this number (the admin's figure, else the default)."""
    known = _rates.get(phone_number_id)
    if known is not None and time.monotonic() - known[1] < RATE_CACHE_SECONDS:
        return known[0]
    stored = (
        SendingNumber.objects.filter(phone_number_id=phone_number_id)
        .values_list("messages_per_second", flat=True)
        .first()
    )
    rate = max(1, min(MAX_RATE, int(stored or settings.WHATSAPP_MESSAGES_PER_SECOND)))
    _rates[phone_number_id] = (rate, time.monotonic())
    return rate


def _script(url: str):
    script = _scripts.get(url)
    if script is None:
        client = _redis_clients[url] = redis.Redis.from_url(url, socket_timeout=5)
        script = _scripts[url] = client.register_script(_TAKE)
    return script


@dataclass(frozen=True)
class Grant:
    """Tokens taken (at most those wanted), or none and the seconds until the next one."""

    tokens: int
    wait: float = 0.0


def take(phone_number_id: str, wanted: int = 1, rate: int | None = None) -> Grant:
    """Take up to `wanted` tokens for sends from this number (one Redis call for a batch)."""
    rate = rate or rate_for(phone_number_id)
    wanted = max(1, min(wanted, capacity(rate)))
    url = settings.WHATSAPP_RATE_LIMIT_URL
    if not url:
        return _take_locally(phone_number_id, rate, wanted)
    key = f"whatsapp:bucket:{phone_number_id}"
    try:
        granted, wait_ms = _script(url)(keys=[key], args=[rate, capacity(rate), wanted])
    except redis.RedisError as error:
        # Without the shared count no worker may send: the task tries again later.
        raise TemporaryFailure(f"rate limiter unreachable: {error}") from error
    return Grant(int(granted), int(wait_ms) / 1000)


def _take_locally(phone_number_id: str, rate: int, wanted: int) -> Grant:
    now = time.monotonic()
    with _local_lock:
        bucket = _local.setdefault(phone_number_id, _LocalBucket(capacity(rate), now))
        bucket.tokens = min(capacity(rate), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        granted = min(wanted, int(bucket.tokens))
        if granted >= 1:
            bucket.tokens -= granted
            return Grant(granted)
        return Grant(0, (1 - bucket.tokens) / rate)


def forget_rate(phone_number_id: str) -> None:
    """After an admin change: this process's next send reads the new figure."""
    _rates.pop(phone_number_id, None)
