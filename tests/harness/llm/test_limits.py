"""Retry policy, Retry-After parsing, token buckets and the concurrency cap."""

from __future__ import annotations

import asyncio
import json
import random
from email.utils import formatdate

import pytest

from harness.llm import Limits, LLMCallError, RetryPolicy
from harness.llm.limits import (
    ErrorVerdict,
    RateLimiter,
    TokenBucket,
    classify_common,
    classify_status,
    parse_retry_after,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"Retry-After": "0.25"}, 0.25),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "soon"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str] | None, expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after(
        {"retry-after": formatdate(now + 30, usegmt=True)}, now=now
    ) == pytest.approx(30)
    assert parse_retry_after({"retry-after": formatdate(now - 30, usegmt=True)}, now=now) == 0.0


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (408, True),
        (409, True),
        (429, True),
        (500, True),
        (529, True),
    ],
)
def test_classify_status(status: int, retryable: bool) -> None:
    verdict = classify_status(status, {"retry-after": "2"})
    assert verdict.retryable is retryable
    assert verdict.retry_after_s == (2.0 if retryable else None)


def test_classify_common() -> None:
    assert classify_common(json.JSONDecodeError("x", "{", 1)) == ErrorVerdict(True)
    assert classify_common(TimeoutError()) == ErrorVerdict(True)
    assert classify_common(ConnectionResetError()) == ErrorVerdict(True)
    assert classify_common(ValueError("no")) is None


def test_backoff_is_full_jitter_bounded_by_the_cap() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=5.0)
    rng = random.Random(0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        draws = [policy.backoff_s(attempt, rng) for _ in range(200)]
        assert 0.0 <= min(draws) and max(draws) <= ceiling
        assert max(draws) > 0.8 * ceiling  # it spreads over the whole range, not a fixed delay


def test_retry_policy_validates() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_token_bucket_hands_out_reservations_in_order() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=2.0, capacity=2.0, clock=clock)
    assert [bucket.reserve(1) for _ in range(4)] == [0.0, 0.0, 0.5, 1.0]
    clock.now += 1.0  # refills 2 tokens: pays off the debt of 2
    assert bucket.reserve(1) == 0.5
    bucket.give_back(5)  # capped at capacity
    assert bucket.reserve(2) == 0.0


def test_token_bucket_passes_requests_larger_than_capacity() -> None:
    bucket = TokenBucket(rate_per_s=10.0, capacity=10.0, clock=FakeClock())
    assert bucket.reserve(30) == pytest.approx(2.0)


def test_rate_limiter_settles_tokens_with_the_real_count() -> None:
    clock = FakeClock()
    limiter = RateLimiter(tokens_per_minute=600, clock=clock)  # 10 tokens/s, burst 10
    assert limiter.tokens is not None and limiter.requests is None
    assert limiter.tokens.reserve(10) == 0.0
    limiter.settle(reserved_tokens=10, used_tokens=4)  # 6 come back
    assert limiter.tokens.reserve(6) == 0.0
    assert limiter.tokens.reserve(1) == pytest.approx(0.1)


async def _no_sleep(seconds: float) -> None:
    return None


def test_limits_retry_transient_then_succeed() -> None:
    calls = {"n": 0}

    async def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise TimeoutError("slow")
        return "ok"

    limits = Limits(RetryPolicy(max_attempts=5), sleep=_no_sleep)
    assert asyncio.run(limits.call(flaky, classify=lambda e: ErrorVerdict(True), model="m")) == "ok"
    assert calls["n"] == 3


def test_limits_wrap_permanent_errors_without_retrying() -> None:
    calls = {"n": 0}

    async def broken() -> str:
        calls["n"] += 1
        raise ValueError("bad request")

    limits = Limits(sleep=_no_sleep)
    with pytest.raises(
        LLMCallError, match="model 'm'.*not retryable.*ValueError: bad request"
    ) as caught:
        asyncio.run(limits.call(broken, classify=lambda e: ErrorVerdict(False), model="m"))
    assert calls["n"] == 1 and isinstance(caught.value.__cause__, ValueError)


def test_limits_give_up_when_the_server_asks_for_too_long_a_wait() -> None:
    async def limited() -> str:
        raise RuntimeError("429")

    limits = Limits(RetryPolicy(max_retry_after_s=60), sleep=_no_sleep)
    with pytest.raises(
        LLMCallError,
        match="gave up after 1 attempt.*retry after 3600s, more than max_retry_after_s=60",
    ):
        asyncio.run(limits.call(limited, classify=lambda e: ErrorVerdict(True, 3600.0), model="m"))


def test_concurrency_cap_is_never_exceeded() -> None:
    state = {"running": 0, "peak": 0}

    async def work() -> None:
        state["running"] += 1
        state["peak"] = max(state["peak"], state["running"])
        await asyncio.sleep(0.001)
        state["running"] -= 1

    limits = Limits(max_concurrency=3)

    async def main() -> None:
        await asyncio.gather(
            *(
                limits.call(work, classify=lambda e: ErrorVerdict(False), model="m")
                for _ in range(20)
            )
        )

    asyncio.run(main())
    asyncio.run(main())  # a second event loop gets its own semaphore
    assert state["peak"] == 3


def test_cancellation_is_not_retried() -> None:
    async def slow() -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        task = asyncio.create_task(
            Limits().call(slow, classify=lambda e: ErrorVerdict(True), model="m")
        )
        await asyncio.sleep(0)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(main())
