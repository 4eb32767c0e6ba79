"""Content-addressed artifact store: a dataset or a model is built once per fingerprint.

    store = Store()                                    # $SUBTERRA_STORE or .subterra/store
    fp = fingerprint(kind="model", dataset=data_fp, recipe=recipe.model_dump(mode="json"))
    path = store.get_or_create("model", fp, build)     # build(out_dir) runs only if needed

Layout under the root::

    <kind>/<fingerprint>/              a complete artifact; its manifest.json is written last
    <kind>/.partial/<fingerprint>/     the build in progress; kept after a crash so that a
                                       builder that journals its work (datagen, the trainer's
                                       resume state) carries on instead of starting over
    <kind>/.locks/<fingerprint>.lock   the file lock that makes concurrent callers build once

An artifact becomes visible by one `os.rename` of its finished folder, so a reader never
sees half of one: it exists with its manifest, or not at all.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock
from pydantic import BaseModel

from harness.files import canonical_json, digest, store_root, write_atomic

__all__ = ["MANIFEST", "Manifest", "Store", "fingerprint"]

MANIFEST = "manifest.json"

def fingerprint(**parts: Any) -> str:
    """The sha256 of everything that determines an artifact (content, models, recipe, seeds,
    version). Callers pass content, not paths to content: a Path is hashed as its name."""
    if not parts:
        raise ValueError("fingerprint() needs at least one named part")
    return digest(parts)


class Manifest(BaseModel):
    kind: str
    fingerprint: str
    parts: dict[str, Any] | None        # what the fingerprint was computed from, when given
    created: datetime
    build_seconds: float
    resumed: bool                       # the build found a partial folder from an earlier attempt
    result: Any = None                  # what build_fn returned (e.g. a training run's loss curve)


class Store:
    def __init__(self, root: Path | str | None = None, *, lock_timeout: float = -1) -> None:
        # Absolute, so paths handed to builders compare with the ones they write back.
        self.root = (Path(root) if root is not None else store_root()).resolve()
        self.lock_timeout = lock_timeout        # seconds to wait for another builder; -1 waits forever

    def path(self, kind: str, fp: str) -> Path:
        if not kind or "/" in kind or kind.startswith("."):
            raise ValueError(f"artifact kind must be a plain folder name, got {kind!r}")
        if not fp or not all(c in "0123456789abcdef" for c in fp):
            raise ValueError(f"fingerprint must be a lowercase hex digest, got {fp!r}")
        return self.root / kind / fp

    def partial_path(self, kind: str, fp: str) -> Path:
        """Where `get_or_create` builds the artifact (and a killed build left its work)."""
        final = self.path(kind, fp)
        return final.parent / ".partial" / fp

    def exists(self, kind: str, fp: str) -> bool:
        return (self.path(kind, fp) / MANIFEST).is_file()

    def manifest(self, kind: str, fp: str) -> Manifest:
        path = self.path(kind, fp) / MANIFEST
        if not path.is_file():
            raise FileNotFoundError(f"no complete {kind} artifact {fp} in {self.root}")
        return Manifest.model_validate_json(path.read_text(encoding="utf-8"))

    def get_or_create(self, kind: str, fp: str, build_fn: Callable[[Path], Any], *,
                      parts: Mapping[str, Any] | None = None) -> Path:
        """The artifact's folder, built by `build_fn(folder)` if it is not already complete.

        `build_fn` writes into the folder it is given; what it returns (JSON data or a pydantic
        model, e.g. a training result) is recorded in the manifest. If it raises, nothing is
        published and its partial folder stays for the next attempt to resume from.
        """
        final = self.path(kind, fp)
        if (final / MANIFEST).is_file():
            return final
        locks = final.parent / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        with FileLock(str(locks / f"{fp}.lock"), timeout=self.lock_timeout):
            if (final / MANIFEST).is_file():        # another process built it while we waited
                return final
            partial = self.partial_path(kind, fp)
            resumed = partial.exists() and any(partial.iterdir())
            partial.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            result = build_fn(partial)
            manifest = Manifest(kind=kind, fingerprint=fp,
                                parts=json.loads(canonical_json(dict(parts))) if parts else None,
                                created=datetime.now(UTC), build_seconds=round(time.perf_counter() - started, 3),
                                resumed=resumed, result=json.loads(canonical_json(result)))
            write_atomic(partial / MANIFEST, manifest.model_dump_json(indent=2))
            if final.exists():                      # a folder without manifest: a torn copy by hand
                shutil.rmtree(final)
            os.rename(partial, final)
        return final
