"""Record/replay store for model calls: one SQLite file, content-addressed.

The key is the sha256 of the canonical JSON of everything that decides an answer (provider,
model, messages, max_tokens, temperature, seed, stop, trial, hint; and the tools, tool
choice, tool calls and results in the history, and the output schema, only where a request
has them, so the keys of requests without them, and their recordings, stay as they were). Only that request content
and the result are stored; API keys and HTTP headers never reach this module.

Modes: ``off`` (never read or write), ``record`` (read-through; write on miss), ``replay``
(read only; a miss raises `CacheMissError`). Many processes (xdist workers, parallel runs)
may share one file: WAL journal, a busy timeout, and ``INSERT OR IGNORE`` so that two
writers of the same key both succeed and the first answer stays. Switching a new file to
WAL needs an exclusive lock that the busy timeout does not wait for, so the setup runs
under a file lock beside the database (and is retried with backoff); any SQLite failure
reaches callers as `LLMError`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Literal, get_args

from filelock import FileLock

from harness.files import cache_dir, canonical_json, digest

from .base import ChatRequest, ChatResult, Message
from .errors import LLMError

__all__ = [
    "CACHE_MODE_ENV",
    "CacheMode",
    "ResponseCache",
    "cache_key",
    "default_cache_path",
    "default_cache_mode",
    "request_summary",
]

CacheMode = Literal["off", "record", "replay"]
CACHE_MODE_ENV = "SUBTERRA_CACHE_MODE"
_KEY_VERSION = 1  # bump when the key's content changes, so old entries stop matching

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key        TEXT PRIMARY KEY,
    provider   TEXT NOT NULL,
    model      TEXT NOT NULL,
    request    TEXT NOT NULL,
    result     TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""


def default_cache_path() -> Path:
    """`$SUBTERRA_CACHE_DIR/llm.sqlite`, else `.subterra/cache/llm.sqlite`."""
    return cache_dir() / "llm.sqlite"


def default_cache_mode() -> CacheMode:
    """`$SUBTERRA_CACHE_MODE` if set (off/record/replay), else ``record``."""
    return _check_mode(os.environ.get(CACHE_MODE_ENV, "record"), source=f"${CACHE_MODE_ENV}")


def _check_mode(mode: str, *, source: str = "cache mode") -> CacheMode:
    if mode not in get_args(CacheMode):
        raise ValueError(f"{source} must be one of {get_args(CacheMode)}, got {mode!r}")
    return mode  # type: ignore[return-value]


def _keyed_message(message: Message) -> list[Any]:
    keyed: list[Any] = [message.role, message.content]
    if message.tool_calls or message.tool_call_id is not None:
        keyed += [[c.model_dump(mode="json") for c in message.tool_calls], message.tool_call_id]
    return keyed


def _keyed_content(provider: str, model: str, request: ChatRequest) -> dict[str, Any]:
    content = {
        "v": _KEY_VERSION,
        "provider": provider,
        "model": model,
        "messages": [_keyed_message(m) for m in request.messages],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "seed": request.seed,
        "stop": list(request.stop),
        "trial": request.trial,
        "hint": request.hint.model_dump(mode="json") if request.hint else None,
    }
    if request.tools:
        content["tools"] = [t.model_dump(mode="json") for t in request.tools]
        content["tool_choice"] = request.tool_choice
    if request.output is not None:
        content["output"] = request.output.model_dump(mode="json")
    return content


def cache_key(provider: str, model: str, request: ChatRequest) -> str:
    return digest(_keyed_content(provider, model, request))


def request_summary(request: ChatRequest) -> str:
    """One line that lets a person recognise a call, e.g. in a replay miss."""
    last = request.messages[-1].content if request.messages else ""
    preview = last if len(last) <= 60 else last[:57] + "..."
    task = f", hint {request.hint.task}" if request.hint else ""
    return (
        f"purpose {request.purpose!r}, {len(request.messages)} messages, last {preview!r}, "
        f"trial {request.trial}, seed {request.seed}{task}"
    )


def _retry(action: Any, attempts: int = 8) -> Any:
    """`action()`, retried with exponential backoff while SQLite says the file is locked or busy
    (a lock taken outside the busy handler, e.g. a concurrent WAL switch or checkpoint)."""
    for attempt in range(attempts):
        try:
            return action()
        except sqlite3.OperationalError as e:
            if attempt == attempts - 1 or not any(w in str(e) for w in ("locked", "busy")):
                raise
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


class ResponseCache:
    """A SQLite file of recorded results. Opened lazily; safe across threads and processes."""

    def __init__(self, path: str | Path | None = None, mode: CacheMode = "record") -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.mode = _check_mode(mode)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One process at a time sets a file up (WAL, schema); the others wait here, not fail.
            with FileLock(f"{self.path}.lock", timeout=120):
                self._connection = _retry(self._open)
        return self._connection

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: autocommit; each statement is its own short transaction.
        connection = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
        try:
            connection.execute("PRAGMA busy_timeout = 60000")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute(_SCHEMA)
        except BaseException:
            connection.close()
            raise
        return connection

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            try:
                return _retry(lambda: self._db().execute(sql, args).fetchall())
            except (sqlite3.Error, OSError) as e:   # OSError: folder not writable, lock timeout
                raise LLMError(f"response cache {self.path}: {type(e).__name__}: {e}") from e

    def get(self, key: str) -> ChatResult | None:
        rows = self._run("SELECT result FROM responses WHERE key = ?", (key,))
        if not rows:
            return None
        return ChatResult.model_validate_json(rows[0][0]).model_copy(update={"cached": True})

    def put(
        self, key: str, provider: str, model: str, request: ChatRequest, result: ChatResult
    ) -> bool:
        """Store `result` under `key`; False when another caller had stored an answer first
        (that one is kept)."""
        stored = result.model_copy(update={"cached": False}).model_dump_json()
        return bool(self._run(
            "INSERT OR IGNORE INTO responses (key, provider, model, request, result, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING key",
            (key, provider, model, canonical_json(_keyed_content(provider, model, request)), stored, time.time()),
        ))

    def __len__(self) -> int:
        return self._run("SELECT COUNT(*) FROM responses")[0][0]

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r}, mode={self.mode!r})"
