"""Seeds derived from names and indices, stable across processes and Python versions
(`hash()` is salted per process, so it cannot be used for this)."""

from __future__ import annotations

import hashlib


def stable_int(*parts: object) -> int:
    """A 32-bit seed derived from `parts`."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big")
