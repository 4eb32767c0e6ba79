"""Retries, rate limits and a concurrency cap around one provider call.

Providers *classify* errors (`ErrorVerdict`); `Limits.call` decides what to do about them:
retry with exponential backoff and full jitter (or exactly the server's Retry-After), up to
`RetryPolicy.max_attempts`, then raise `LLMCallError`. Before every attempt it waits for a
slot under the concurrency cap and for the request/token budgets of the rate limiter.

All state here is per `Limits` object (one per `Model`), so tests make a fresh one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar

from .errors import LLMCallError, ProviderResponseError

__all__ = [
    "ErrorVerdict",
    "Limits",
    "RateLimiter",
    "RetryPolicy",
    "TokenBucket",
    "classify_common",
    "classify_status",
    "parse_retry_after",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

# 408 request timeout, 409 lock conflict, 429 rate limit, 5xx (incl. Anthropic's 529 overloaded).
_RETRYABLE_STATUS = frozenset({408, 409, 429})


@dataclass(frozen=True)
class ErrorVerdict:
    """A provider's judgement of one failed attempt."""

    retryable: bool
    retry_after_s: float | None = None  # what the server asked for, if it did


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` as seconds or an HTTP date."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    if (ms := lowered.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify_status(status_code: int, headers: Mapping[str, str] | None) -> ErrorVerdict:
    """Verdict for an HTTP error status, with the server's Retry-After if it sent one."""
    retryable = status_code in _RETRYABLE_STATUS or status_code >= 500
    return ErrorVerdict(retryable, parse_retry_after(headers) if retryable else None)


def classify_common(error: BaseException) -> ErrorVerdict | None:
    """Verdicts that hold for every provider; None when the provider must decide."""
    if isinstance(error, (json.JSONDecodeError, ProviderResponseError)):
        return ErrorVerdict(True)  # a truncated or malformed body: the next try usually reads fine
    if isinstance(error, (TimeoutError, ConnectionError)):
        return ErrorVerdict(True)
    return None


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    # A server asking for a longer wait than this is treated as "not now": we give up.
    max_retry_after_s: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("retry delays must be >= 0")

    def backoff_s(self, attempt: int, rng: random.Random) -> float:
        """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2**(attempt-1))]."""
        return rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))


class TokenBucket:
    """A token bucket that hands out reservations: callers take now and wait off their debt.

    Reserving never blocks; it returns how long the caller must sleep before its share is
    covered. The level can go negative, so requests larger than the capacity still pass, and
    waiting callers are served first come, first served. Thread-safe, not bound to a loop.
    """

    def __init__(
        self, rate_per_s: float, capacity: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate_per_s <= 0 or capacity <= 0:
            raise ValueError(f"rate and capacity must be > 0, got {rate_per_s} and {capacity}")
        self.rate_per_s = rate_per_s
        self.capacity = capacity
        self._clock = clock
        self._level = capacity
        self._stamp = clock()
        self._lock = threading.Lock()

    def reserve(self, amount: float) -> float:
        with self._lock:
            self._refill()
            self._level -= amount
            return 0.0 if self._level >= 0 else -self._level / self.rate_per_s

    def give_back(self, amount: float) -> None:
        """Return (amount > 0) or take more (amount < 0) once the true cost is known."""
        with self._lock:
            self._refill()
            self._level = min(self.capacity, self._level + amount)

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate_per_s)
        self._stamp = now


class RateLimiter:
    """Requests-per-minute and tokens-per-minute budgets; either may be None (unlimited).

    Bursts are capped at one second's worth of budget so a client never sends a minute's
    allowance at once (servers that count over sliding windows would answer 429).
    """

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.requests = _bucket(requests_per_minute, clock)
        self.tokens = _bucket(tokens_per_minute, clock)

    async def acquire(self, tokens: int) -> None:
        wait = 0.0
        if self.requests is not None:
            wait = max(wait, self.requests.reserve(1))
        if self.tokens is not None:
            wait = max(wait, self.tokens.reserve(tokens))
        if wait > 0:
            await asyncio.sleep(wait)

    def settle(self, reserved_tokens: int, used_tokens: int) -> None:
        if self.tokens is not None:
            self.tokens.give_back(reserved_tokens - used_tokens)


def _bucket(per_minute: float | None, clock: Callable[[], float]) -> TokenBucket | None:
    if per_minute is None:
        return None
    rate = per_minute / 60.0
    return TokenBucket(rate, max(1.0, rate), clock=clock)


class Limits:
    """Retry policy + rate limiter + concurrency cap, applied to one call at a time."""

    def __init__(
        self,
        retry: RetryPolicy | None = None,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        max_concurrency: int | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1 or None, got {max_concurrency}")
        self.retry = retry or RetryPolicy()
        self.rate = RateLimiter(requests_per_minute, tokens_per_minute)
        self.max_concurrency = max_concurrency
        self._rng = rng or random.Random()
        self._sleep = sleep
        # asyncio.Semaphore binds to the loop that first waits on it; keep one per loop so a
        # model stays usable across `asyncio.run` calls (one per script step or test).
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._semaphores = weakref.WeakKeyDictionary()

    def _semaphore(self) -> asyncio.Semaphore | None:
        if self.max_concurrency is None:
            return None
        loop = asyncio.get_running_loop()
        if loop not in self._semaphores:
            self._semaphores[loop] = asyncio.Semaphore(self.max_concurrency)
        return self._semaphores[loop]

    async def call(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        classify: Callable[[BaseException], ErrorVerdict],
        model: str,
        tokens: int = 0,
    ) -> T:
        """Run `attempt` until it succeeds, raising `LLMCallError` when it fails for good."""
        semaphore = self._semaphore()
        for number in range(1, self.retry.max_attempts + 1):
            try:
                if semaphore is None:
                    await self.rate.acquire(tokens)
                    return await attempt()
                async with semaphore:
                    await self.rate.acquire(tokens)
                    return await attempt()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # classified below; nothing is swallowed
                verdict = classify(error)
                if not verdict.retryable:
                    raise LLMCallError(model, number, error, retryable=False) from error
                if number == self.retry.max_attempts:
                    raise LLMCallError(model, number, error, retryable=True) from error
                wait = self._wait_s(number, verdict)
                if wait is None:
                    note = (
                        f"server asked to retry after {verdict.retry_after_s:.0f}s, more than "
                        f"max_retry_after_s={self.retry.max_retry_after_s:.0f}"
                    )
                    raise LLMCallError(model, number, error, retryable=True, note=note) from error
                log.info(
                    "%s: attempt %d failed (%s: %s); retrying in %.2fs",
                    model,
                    number,
                    type(error).__name__,
                    error,
                    wait,
                )
                await self._sleep(wait)
        raise AssertionError("unreachable: the loop returns or raises")

    def _wait_s(self, attempt: int, verdict: ErrorVerdict) -> float | None:
        if verdict.retry_after_s is None:
            return self.retry.backoff_s(attempt, self._rng)
        if verdict.retry_after_s > self.retry.max_retry_after_s:
            return None
        # A little jitter on top, so callers told the same instant do not return in a herd.
        return verdict.retry_after_s + self._rng.uniform(0.0, min(1.0, 0.1 * verdict.retry_after_s))
