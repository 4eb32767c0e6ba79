"""What subterra keeps on disk, in one place: where its state lives, how a file is written
so that no reader ever sees half of it, and the one canonical JSON spelling (and its
sha256) that every content key is computed from.

    .subterra/            state_root(): under the checkout (or the working directory)
        store/            compiled datasets and models ($SUBTERRA_STORE overrides)
        cache/            model-call cache, converted tokenizers ($SUBTERRA_CACHE_DIR overrides)
        runs/             gate results, by run fingerprint
"""

from __future__ import annotations

import json
import os
from hashlib import sha256
from pathlib import Path
from typing import Any

from pydantic import BaseModel

__all__ = ["CACHE_DIR_ENV", "STORE_ENV", "cache_dir", "canonical_json", "digest", "runs_root", "state_root",
           "store_root", "write_atomic"]

STATE_DIR = ".subterra"
STORE_ENV = "SUBTERRA_STORE"            # lets several checkouts (or CI jobs) share one store
CACHE_DIR_ENV = "SUBTERRA_CACHE_DIR"


def state_root(base: Path | None = None) -> Path:
    """`.subterra` under `base` (default: the working directory)."""
    return (base if base is not None else Path()) / STATE_DIR


def store_root(base: Path | None = None) -> Path:
    """`$SUBTERRA_STORE`, else the state root's `store/` (read at call time)."""
    return Path(os.environ.get(STORE_ENV) or state_root(base) / "store")


def cache_dir() -> Path:
    """`$SUBTERRA_CACHE_DIR`, else `.subterra/cache` under the working directory (read at call time)."""
    return Path(os.environ.get(CACHE_DIR_ENV) or state_root() / "cache")


def runs_root(base: Path | None = None) -> Path:
    return state_root(base) / "runs"


def write_atomic(path: Path, text: str) -> None:
    """Write via a per-process temp file and a rename: readers never see half a file, and
    two processes writing the same file never share a temp file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    raise TypeError(
        f"cannot fingerprint a value of type {type(value).__name__}: expected JSON data, "
        "a pydantic model, a Path or a set"
    )


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no whitespace, UTF-8, NaN refused."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, default=_jsonable)


def digest(value: Any) -> str:
    """The sha256 (hex) of the value's canonical JSON."""
    return sha256(canonical_json(value).encode("utf-8")).hexdigest()
