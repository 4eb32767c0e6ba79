"""Where the LLM layer keeps files it derives (response cache, converted tokenizers)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_DIR_ENV", "cache_dir"]

CACHE_DIR_ENV = "SUBTERRA_CACHE_DIR"


def cache_dir() -> Path:
    """`$SUBTERRA_CACHE_DIR`, else `.subterra/cache` under the working directory (read at call time)."""
    configured = os.environ.get(CACHE_DIR_ENV)
    return Path(configured) if configured else Path(".subterra") / "cache"
