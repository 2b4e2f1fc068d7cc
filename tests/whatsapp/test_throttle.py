"""Throughput per sending number: one token bucket in Redis for every worker."""

import pytest
import redis
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from tests import environment
from whatsapp import throttle
from whatsapp.models import SendingNumber

# This xdist worker's Redis database for token buckets (tests/environment.py).
BUCKETS_URL = environment.BUCKETS_URL


@pytest.fixture
def redis_buckets(settings):
    try:
        client = redis.Redis.from_url(BUCKETS_URL, socket_connect_timeout=1)
        client.ping()
    except redis.exceptions.RedisError as error:
        pytest.skip(f"no Redis at {BUCKETS_URL}: {error}")
    settings.WHATSAPP_RATE_LIMIT_URL = BUCKETS_URL
    for key in client.scan_iter("whatsapp:bucket:test-*"):
        client.delete(key)
    yield client
    for key in client.scan_iter("whatsapp:bucket:test-*"):
        client.delete(key)


def test_the_bucket_holds_a_tenth_of_a_second_of_tokens(redis_buckets):
    # a burst of 5 at 50/s, then the next token is 20 ms away
    grants = [throttle.take("test-burst", rate=50) for _ in range(6)]

    assert [g.tokens for g in grants] == [1, 1, 1, 1, 1, 0]
    assert 0 < grants[5].wait <= 0.02


def test_a_batch_takes_what_the_bucket_holds_in_one_call(redis_buckets):
    assert throttle.take("test-batch", wanted=50, rate=50).tokens == 5
    assert throttle.take("test-batch", wanted=50, rate=50).tokens == 0


def test_two_numbers_have_two_buckets(redis_buckets):
    throttle.take("test-a", wanted=5, rate=50)

    assert throttle.take("test-a", rate=50).tokens == 0
    assert throttle.take("test-b", rate=50).tokens == 1


def test_without_redis_the_bucket_is_the_process_own(settings):
    settings.WHATSAPP_RATE_LIMIT_URL = ""
    throttle._local.clear()

    grants = [throttle.take("test-local", rate=10) for _ in range(2)]

    assert (grants[0].tokens, grants[1].tokens) == (1, 0)
    assert grants[1].wait > 0


@pytest.mark.django_db
def test_the_rate_is_the_numbers_own_else_the_default(settings):
    settings.WHATSAPP_MESSAGES_PER_SECOND = 80
    throttle._rates.clear()
    SendingNumber.objects.create(phone_number_id="test-fast", messages_per_second=1000)

    assert throttle.rate_for("test-fast") == 1000
    assert throttle.rate_for("test-other") == 80


@pytest.mark.django_db
def test_a_rate_above_the_platforms_1000_is_refused():
    number = SendingNumber(phone_number_id="test-too-fast", messages_per_second=1001)
    with pytest.raises(ValidationError):
        number.full_clean()
    with pytest.raises(IntegrityError):
        number.save()
