"""Token usage per purpose, as a `Model` served it (thread-safe, resettable)."""

from __future__ import annotations

import threading

from .base import Usage

__all__ = ["UsageLedger"]


class UsageLedger:
    """Adds up the usage of every result a model returned, once per result.

    `total` counts cache hits too (they stand for the same work, so a replayed run reports
    the same tokens as the recorded one); `from_cache` says how much of it was replayed
    rather than paid for now. Failed attempts are never recorded.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_purpose: dict[str, Usage] = {}
        self._from_cache = Usage()

    def add(self, purpose: str, usage: Usage, *, cached: bool) -> None:
        with self._lock:
            self._by_purpose[purpose] = self._by_purpose.get(purpose, Usage()) + usage
            if cached:
                self._from_cache = self._from_cache + usage

    @property
    def total(self) -> Usage:
        with self._lock:
            return sum(self._by_purpose.values(), Usage())

    @property
    def by_purpose(self) -> dict[str, Usage]:
        with self._lock:
            return dict(self._by_purpose)

    @property
    def from_cache(self) -> Usage:
        with self._lock:
            return self._from_cache

    @property
    def fresh(self) -> Usage:
        """Usage of calls actually made (not served from the cache)."""
        with self._lock:
            total = sum(self._by_purpose.values(), Usage())
            cached = self._from_cache
        return Usage(
            input_tokens=total.input_tokens - cached.input_tokens,
            output_tokens=total.output_tokens - cached.output_tokens,
            calls=total.calls - cached.calls,
        )

    def reset(self) -> None:
        with self._lock:
            self._by_purpose.clear()
            self._from_cache = Usage()
