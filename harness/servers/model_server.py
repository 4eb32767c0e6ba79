"""Serve a local Hugging Face model directory behind an OpenAI-compatible API, with an existing engine.

    with ModelServer("exports/zoom") as served:
        served.base_url     # "http://127.0.0.1:PORT/v1"
        served.model        # the name to send as `model` in requests
        served.spec         # "openai-compatible:http://127.0.0.1:PORT/v1:NAME", for get_model

Engines (`engine=`):

- ``"transformers"``: ``transformers serve DIR`` (needs ``transformers[serving]``: fastapi,
  uvicorn). The model is preloaded and pinned, so the server lists it under the directory
  path it was given (we give the absolute path) and refuses requests naming another model.
  Requests decode one at a time with a plain ``generate`` call; a request with
  ``temperature=0`` decodes greedily.
- ``"vllm"``: vLLM's OpenAI server (``python -m vllm.entrypoints.openai.api_server``), served
  under the same name; needs ``vllm`` importable and a CUDA device.
- ``"gateway"``: the subterra gateway (``python -m harness.servers.gateway --local DIR``): the
  batched local provider of the gate, which honours ``response_format`` (constrained decoding)
  and tools, where ``transformers serve`` ignores both; CPU or GPU.
- ``"auto"``: vLLM where it can run, otherwise transformers.

The server is a child process in its own session (so stopping it also stops any workers it
started), bound to 127.0.0.1 and a free port by default. Its output goes to a log file;
when it exits early or does not answer ``GET /v1/models`` in time, `ServingError` quotes the
log's tail. Nothing is fetched from a hub: the child runs with the Hugging Face offline flags.
"""

from __future__ import annotations

import os
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
]

Engine = Literal["auto", "transformers", "vllm", "gateway"]
ENGINES: tuple[Engine, ...] = ("auto", "transformers", "vllm", "gateway")

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


def resolve_engine(engine: Engine) -> Literal["transformers", "vllm", "gateway"]:
    """The concrete engine for `engine`; raises `ServingError` when the asked one cannot run."""
    if engine not in ENGINES:
        raise ServingError(f"unknown serving engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if engine == "gateway":
        return "gateway"
    if engine in ("auto", "vllm"):
        reason = vllm_unavailable_reason()
        if reason is None:
            return "vllm"
        if engine == "vllm":
            raise ServingError(f"cannot serve with vLLM: {reason}; use engine 'transformers'")
    from transformers.utils.import_utils import is_serve_available

    if not is_serve_available():
        raise ServingError(
            "`transformers serve` needs fastapi and uvicorn: pip install 'transformers[serving]'"
        )
    return "transformers"


def engine_command(
    engine: Literal["transformers", "vllm", "gateway"],
    model_dir: Path,
    *,
    host: str,
    port: int,
    dtype: str = "auto",
    extra_args: tuple[str, ...] = (),
) -> list[str]:
    """The command line that serves `model_dir` (an absolute path, also the served name)."""
    if engine == "gateway":
        return [
            sys.executable, "-m", "harness.servers.gateway", "--local", str(model_dir),
            "--served-as", str(model_dir), "--host", host, "--port", str(port),
            "--dtype", dtype if dtype in ("float32", "bfloat16") else "auto", *extra_args,
        ]
    if engine == "transformers":
        command = [
            sys.executable, "-m", "transformers.cli.transformers", "serve", str(model_dir),
            "--host", host, "--port", str(port), "--dtype", dtype, "--log-level", "info",
            "--default-seed", "0",
        ]
    else:
        command = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(model_dir), "--served-model-name", str(model_dir),
            "--host", host, "--port", str(port), "--dtype", dtype, "--seed", "0",
        ]
    return command + list(extra_args)


class ModelServer:
    """Start an OpenAI-compatible server for `model_dir`; a context manager that stops it.

    `dtype`: the engine's dtype name ("auto" keeps the weights' dtype). `threads` caps the
    child's torch/OpenMP threads (useful on a small shared CPU). `log_path`: where the
    server's output goes (default: a temporary file, kept after stopping for reading).
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        engine: Engine = "auto",
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
        self.served: ServedModel | None = None

    def start(self) -> ServedModel:
        """Start the server and wait until `/v1/models` lists the model."""
        if self.served is not None:
            return self.served
        engine = resolve_engine(self.engine)
        port = self.port if self.port is not None else free_port(self.host)
        command = engine_command(
            engine, self.model_dir, host=self.host, port=port, dtype=self.dtype,
            extra_args=self.extra_args,
        )
        if self.log_path is None:
            handle, name = tempfile.mkstemp(prefix="subterra-serve-", suffix=".log")
            os.close(handle)
            self.log_path = Path(name)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self._child_env(),
            start_new_session=True,  # its own process group: stop() reaches its workers too
        )
        base_url = f"http://{self.host}:{port}/v1"
        try:
            self._wait_until_listed(base_url, str(self.model_dir))
        except BaseException:
            self.stop()
            raise
        self.served = ServedModel(
            base_url=base_url, model=str(self.model_dir), engine=engine,
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
