"""Serve a local Hugging Face model directory behind an OpenAI-compatible API, with an existing engine.

    with ModelServer("exports/zoom", served_name="zoom") as served:
        served.base_url     # "http://127.0.0.1:PORT/v1"
        served.model        # the name to send as `model` in requests ("zoom")
        served.spec         # "openai-compatible:http://127.0.0.1:PORT/v1:zoom", for get_model

The model is served under `served_name` (default: the directory's absolute path), the one
name the server lists and answers to, as vLLM's ``--served-model-name``.

Engines (`engine=`):

- ``"vllm"``: vLLM's OpenAI server (``python -m vllm.entrypoints.openai.api_server``) with
  ``--served-model-name``; needs ``vllm`` importable and a CUDA device.
- ``"gateway"``: the subterra gateway (``python -m harness.servers.gateway --local DIR``): the
  gate's batched local provider in the server, so concurrent requests decode in one batch,
  exactly as the gate decodes the model in process (same provider, same dtype: greedy replies
  are identical); it honours ``response_format`` (constrained decoding) and tools; CPU or GPU.
  It refuses a request naming another model (404 ``model_not_found``, as vLLM does).
- ``"transformers"``: ``transformers serve NAME`` (needs ``transformers[serving]``: fastapi,
  uvicorn). It preloads and pins the model it is given, lists it under that very string and
  refuses any other ("Server is pinned to ..."); a local path is a model id as it is. So the
  server runs in a directory where NAME is a link to the model directory. Requests decode one
  at a time (no batching unless ``--continuous-batching``); ``response_format`` is ignored.
- ``"auto"``: vLLM where it can run, otherwise the gateway.

The server is a child process in its own session (so stopping it also stops any workers it
started), bound to 127.0.0.1 and a free port by default. Its output goes to a log file;
when it exits early or does not answer ``GET /v1/models`` in time, `ServingError` quotes the
log's tail. Nothing is fetched from a hub: the child runs with the Hugging Face offline flags.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

import httpx

from harness.llm.vllm_engine import vllm_unavailable_reason
from harness.servers.processes import stop_group

__all__ = [
    "ENGINES",
    "Engine",
    "ModelServer",
    "ServedModel",
    "ServingError",
    "engine_command",
    "free_port",
    "resolve_engine",
    "served_name_problem",
]

Engine = Literal["auto", "transformers", "vllm", "gateway"]
ENGINES: tuple[Engine, ...] = ("auto", "transformers", "vllm", "gateway")

# A name a client can send and a model spec can carry ('openai-compatible:URL:NAME'): no
# whitespace, '@' or ':'; path-like segments (org/name) are fine.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")
_LOG_TAIL_LINES = 40
_POLL_INTERVAL_S = 0.25
_STOP_GRACE_S = 15.0


class ServingError(RuntimeError):
    """The server could not be started (engine missing, early exit, no answer in time)."""


@dataclass(frozen=True)
class ServedModel:
    """A running server: where to send requests and which model name to use."""

    base_url: str        # ends in /v1, as OpenAI clients expect
    model: str           # the `model` field of requests
    engine: Literal["transformers", "vllm", "gateway"]
    pid: int
    log_path: Path

    @property
    def spec(self) -> str:
        """The model spec for `harness.llm.get_model` / ``subterra run --model``."""
        return f"openai-compatible:{self.base_url}:{self.model}"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def served_name_problem(name: str) -> str | None:
    """Why `name` cannot be a served model name (None when it can): a client sends it as
    `model`, and the model spec 'openai-compatible:URL:NAME' carries it."""
    if not _NAME.match(name) or ".." in name.split("/"):
        return (f"served model name {name!r}: use letters, digits, '_', '-', '.' and '/' between "
                "parts (like travel_booking or acme/travel-v2)")
    return None


def resolve_engine(engine: Engine) -> Literal["transformers", "vllm", "gateway"]:
    """The concrete engine for `engine`; raises `ServingError` when the asked one cannot run."""
    if engine not in ENGINES:
        raise ServingError(f"unknown serving engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if engine in ("auto", "vllm"):
        reason = vllm_unavailable_reason()
        if reason is None:
            return "vllm"
        if engine == "vllm":
            raise ServingError(f"cannot serve with vLLM: {reason}; use engine 'gateway' or 'transformers'")
    from transformers.utils.import_utils import is_serve_available

    if not is_serve_available():    # both servers are FastAPI apps run by uvicorn
        raise ServingError(
            f"the {'gateway' if engine != 'transformers' else '`transformers serve`'} needs fastapi and "
            "uvicorn: pip install 'transformers[serving]'"
        )
    return "transformers" if engine == "transformers" else "gateway"


def engine_command(
    engine: Literal["transformers", "vllm", "gateway"],
    model_dir: Path,
    *,
    host: str,
    port: int,
    name: str | None = None,
    dtype: str = "auto",
    extra_args: tuple[str, ...] = (),
) -> list[str]:
    """The command line that serves `model_dir` (an absolute path) under `name` (default: that
    path). For `transformers serve`, NAME must lead to the model from the working directory
    (`ModelServer` runs it where NAME is a link to `model_dir`)."""
    name = name or str(model_dir)
    if engine == "gateway":
        # dtype "auto": the local provider's own default, the dtype the gate decodes with in
        # process (and, like it, reusing each conversation's earlier turns), so that served and
        # in-process greedy replies are the same tokens.
        return [
            sys.executable, "-m", "harness.servers.gateway", "--local", str(model_dir),
            "--served-as", name, "--only-served-name", "--host", host, "--port", str(port),
            "--dtype", dtype if dtype in ("float32", "bfloat16") else "auto", *extra_args,
        ]
    if engine == "transformers":
        command = [
            sys.executable, "-m", "transformers.cli.transformers", "serve", name,
            "--host", host, "--port", str(port), "--dtype", dtype, "--log-level", "info",
            "--default-seed", "0",
        ]
    else:
        command = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(model_dir), "--served-model-name", name,
            "--host", host, "--port", str(port), "--dtype", dtype, "--seed", "0",
        ]
    return command + list(extra_args)


class ModelServer:
    """Start an OpenAI-compatible server for `model_dir`; a context manager that stops it.

    `served_name`: the model name the server lists and answers to (default: the directory's
    absolute path). `dtype`: the engine's dtype name ("auto": the weights' dtype for vLLM and
    `transformers serve`, the in-process provider's for the gateway). `threads` caps the
    child's torch/OpenMP threads (useful on a small shared CPU). `log_path`: where the
    server's output goes (default: a temporary file, kept after stopping for reading).
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        engine: Engine = "auto",
        served_name: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        dtype: str = "auto",
        threads: int | None = None,
        startup_timeout_s: float = 300.0,
        log_path: str | Path | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        directory = Path(model_dir).expanduser().resolve()
        if not (directory / "config.json").is_file():
            raise ServingError(
                f"{model_dir}: not a Hugging Face model directory (no config.json); "
                "export one with `subterra export`"
            )
        self.model_dir = directory
        self.served_name = served_name or str(directory)
        if served_name is not None and (problem := served_name_problem(served_name)):
            raise ServingError(problem)
        self.engine: Engine = engine
        self.host = host
        self.port = port
        self.dtype = dtype
        self.threads = threads
        self.startup_timeout_s = startup_timeout_s
        self.log_path = Path(log_path) if log_path is not None else None
        self.extra_args = extra_args
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._names_dir: Path | None = None
        self.served: ServedModel | None = None

    def start(self) -> ServedModel:
        """Start the server and wait until `/v1/models` lists the model."""
        if self.served is not None:
            return self.served
        engine = resolve_engine(self.engine)
        port = self.port if self.port is not None else free_port(self.host)
        command = engine_command(
            engine, self.model_dir, host=self.host, port=port, name=self.served_name,
            dtype=self.dtype, extra_args=self.extra_args,
        )
        if self.log_path is None:
            handle, name = tempfile.mkstemp(prefix="subterra-serve-", suffix=".log")
            os.close(handle)
            self.log_path = Path(name)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        base_url = f"http://{self.host}:{port}/v1"
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=self._child_env(),
                cwd=self._names_directory() if engine == "transformers" else None,
                start_new_session=True,  # its own process group: stop() reaches its workers too
            )
            self._wait_until_listed(base_url, self.served_name)
        except BaseException:
            self.stop()
            raise
        self.served = ServedModel(
            base_url=base_url, model=self.served_name, engine=engine,
            pid=self._process.pid, log_path=self.log_path,
        )
        return self.served

    def stop(self) -> None:
        """Stop the server (SIGTERM to its process group, SIGKILL after a grace period)."""
        process, self._process = self._process, None
        self.served = None
        if process is not None and process.poll() is None:
            stop_group(process, grace_s=_STOP_GRACE_S)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._names_dir is not None:
            shutil.rmtree(self._names_dir, ignore_errors=True)
            self._names_dir = None

    def wait(self) -> int:
        """Block until the server exits on its own; returns its exit status (Ctrl-C stops it)."""
        if self._process is None:
            raise ServingError("the server is not running; call start() first")
        return self._process.wait()

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last `lines` lines of the server's output."""
        if self.log_path is None or not self.log_path.is_file():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> ServedModel:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers -------------------------------------------------------------------------

    def _names_directory(self) -> Path | None:
        """For `transformers serve`: a directory where the served name is a path to the model
        (a link), to run the server in; None when the name is the model directory's own path.
        The server pins the model under the string it is given, and reads a local path as it is."""
        if self.served_name == str(self.model_dir):
            return None
        self._names_dir = Path(tempfile.mkdtemp(prefix="subterra-served-names-"))
        link = self._names_dir / self.served_name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(self.model_dir, target_is_directory=True)
        return self._names_dir

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        # A local directory only: never reach for a hub, nor check for CLI updates.
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_UPDATE_CHECK="1")
        env.setdefault("PYTHONUNBUFFERED", "1")  # the log shows progress as it happens
        if self.threads is not None:
            env["OMP_NUM_THREADS"] = str(self.threads)
        return env

    def _wait_until_listed(self, base_url: str, name: str) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        with httpx.Client(timeout=5.0) as client:
            while True:
                code = self._process.poll()
                if code is not None:
                    raise ServingError(self._failure(f"the server exited with status {code}"))
                try:
                    response = client.get(f"{base_url}/models")
                except httpx.TransportError:
                    response = None  # not listening yet
                if response is not None and response.status_code == 200:
                    listed = [entry.get("id") for entry in response.json().get("data", [])]
                    if name in listed:
                        return
                    raise ServingError(
                        self._failure(f"the server lists {listed}, not the model {name!r}")
                    )
                if time.monotonic() > deadline:
                    raise ServingError(
                        self._failure(
                            f"no answer from {base_url}/models within {self.startup_timeout_s:.0f}s"
                        )
                    )
                time.sleep(_POLL_INTERVAL_S)

    def _failure(self, what: str) -> str:
        return (
            f"serving {self.model_dir} failed: {what}. Server log {self.log_path} ends with:\n"
            f"{self.log_tail()}"
        )
