"""Token usage per purpose, as a `Model` served it (thread-safe)."""

from __future__ import annotations

import threading

from .base import Usage

__all__ = ["UsageLedger"]


class UsageLedger:
    """Adds up the usage of every result a model returned, once per result.

    `total` counts cache hits too (they stand for the same work, so a replayed run reports
    the same tokens as the recorded one). Failed attempts are never recorded.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_purpose: dict[str, Usage] = {}

    def add(self, purpose: str, usage: Usage) -> None:
        with self._lock:
            self._by_purpose[purpose] = self._by_purpose.get(purpose, Usage()) + usage

    @property
    def total(self) -> Usage:
        with self._lock:
            return sum(self._by_purpose.values(), Usage())

    @property
    def by_purpose(self) -> dict[str, Usage]:
        with self._lock:
            return dict(self._by_purpose)
