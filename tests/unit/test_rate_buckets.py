"""Token buckets on a manual clock: a burst, then one request per refill interval."""

from __future__ import annotations

from datetime import timedelta

import pytest

from riskcontrol.core.clock import ManualClock
from riskcontrol.core.errors import RateLimited
from riskcontrol.core.ratelimit import Buckets, Rate, RateLimits
from tests.conftest import START


def test_a_full_bucket_allows_its_burst_then_refills_evenly() -> None:
    buckets, rate = Buckets(), Rate(per_minute=6)
    assert [buckets.take("a", rate, START) for _ in range(6)] == [0.0] * 6
    assert buckets.take("a", rate, START) == pytest.approx(10.0)
    assert buckets.take("b", rate, START) == 0.0  # another key has its own bucket
    assert buckets.take("a", rate, START + timedelta(seconds=10)) == 0.0
    assert buckets.take("a", rate, START + timedelta(seconds=10)) > 0


def test_forgetting_full_buckets_keeps_memory_bounded_without_freeing_anyone_early() -> None:
    buckets, rate = Buckets(max_buckets=3), Rate(per_minute=1)
    for key in ("a", "b", "c"):
        assert buckets.take(key, rate, START) == 0.0
    assert buckets.take("d", rate, START + timedelta(minutes=2)) == 0.0  # a, b, c had refilled: forgotten
    assert buckets.take("d", rate, START + timedelta(minutes=2)) > 0


def test_a_limit_of_zero_is_no_limit_and_a_refusal_says_when_to_retry() -> None:
    clock = ManualClock(START)
    limits = RateLimits.per_minute(clock, anonymous=0, login=2, user=0)
    for _ in range(100):
        limits.check_anonymous("10.0.0.1")
        limits.check_user(1)
    limits.check_login("10.0.0.1", "Dorm_Head")
    limits.check_login("10.0.0.1", "dorm_head ")
    with pytest.raises(RateLimited) as refused:
        limits.check_login("10.0.0.1", "dorm_head")
    assert (refused.value.retry_after, refused.value.field, refused.value.status_code) == (30, "username", 429)
