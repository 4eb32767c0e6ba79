"""Local stand-ins for the Anthropic and OpenAI APIs, answered by a real local model.

    with LocalAPIs("smollm2-135m") as apis:
        os.environ.update(apis.environment())     # the SDKs' own base-URL and key variables
        get_model("anthropic:claude-sonnet-4-5")   # ... now talks to SmolLM2 on 127.0.0.1

The gateway (`harness.servers.gateway`) speaks both wire formats. By default (`engine="in-process"`)
it holds the model itself and decodes concurrent requests in one batch; with
`engine="transformers"` it fronts `transformers serve` (`harness.servers.model_server.ModelServer`; a
GGUF is converted to a checkpoint once, see `checkpoint_directory`), 6-9x slower on a
2-core CPU (see the gateway's docstring). Only the official SDKs are clients: they are pointed
here by `ANTHROPIC_BASE_URL` / `OPENAI_BASE_URL`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Literal

import httpx

from harness.llm.provider import TIMEOUT_ENV
from harness.llm.weights import checkpoint_directory
from harness.servers.model_server import ModelServer, ServingError, free_port
from harness.servers.processes import stop_group

__all__ = ["LocalAPIs"]

# What the SDKs need beside the URL: a key is required by both clients, and checked by nobody.
LOCAL_KEY = "local-rehearsal"

# Continuous batching with a fixed paged KV cache. Left unsized, transformers sizes it on a CPU
# at 60% of the machine's free RAM (13.7 GB on a 24 GB box), which the process fills as requests
# come until the OOM killer ends it and every later call fails. 48 blocks of 256 tokens hold
# 12k tokens of SmolLM2-135M's KV (566 MB), enough for its 8k context plus company; 512-token
# batches bound the logits' activations. Measured: about 1.6 GB RSS with four long requests.
CONTINUOUS_BATCHING = ("--continuous-batching", "--cb-num-blocks", "48", "--cb-max-batch-tokens", "512")


class LocalAPIs:
    """Start the model server and the gateway; a context manager that stops both."""

    def __init__(self, source: str | Path = "smollm2-135m", *, port: int | None = None,
                 threads: int | None = None, log_dir: Path | None = None, startup_timeout_s: float = 600.0,
                 engine: Literal["in-process", "transformers"] = "in-process") -> None:
        self.source, self.port, self.threads, self.engine = source, port, threads, engine
        self.log_dir, self.startup_timeout_s = log_dir, startup_timeout_s
        self.served_as = f"local:{source}"
        self._server: ModelServer | None = None
        self._gateway: subprocess.Popen[bytes] | None = None

    @property
    def server_pid(self) -> int | None:
        """The process holding the model (to watch its memory), None when not started."""
        if self._server is not None:
            return self._server.served.pid if self._server.served else None
        return self._gateway.pid if self._gateway is not None else None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """The variables that point the official SDKs (and so every API role) here."""
        return {"ANTHROPIC_BASE_URL": self.url, "ANTHROPIC_API_KEY": LOCAL_KEY,
                "OPENAI_BASE_URL": f"{self.url}/v1", "OPENAI_API_KEY": LOCAL_KEY,
                # A CPU decodes a long reply in minutes, not seconds: no call times out meanwhile.
                TIMEOUT_ENV: "1800"}

    def start(self) -> LocalAPIs:
        logs = self.log_dir
        backend = ["--local", str(self.source)] + (["--threads", str(self.threads)] if self.threads else [])
        if self.engine == "transformers":
            # Continuous batching: the conversations that wait on the model at the same time are
            # decoded together, several times the throughput of one request at a time on a CPU.
            self._server = ModelServer(checkpoint_directory(self.source), engine="transformers",
                                       threads=self.threads, extra_args=CONTINUOUS_BATCHING,
                                       startup_timeout_s=self.startup_timeout_s,
                                       log_path=logs / "model-server.log" if logs else None)
            served = self._server.start()
            backend = ["--backend", served.base_url, "--model", served.model]
        self.port = self.port or free_port()
        log = (logs / "gateway.log").open("wb") if logs else subprocess.DEVNULL
        self._gateway = subprocess.Popen(
            [sys.executable, "-m", "harness.servers.gateway", *backend, "--served-as", self.served_as,
             "--port", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self) -> None:
        assert self._gateway is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._gateway.poll() is not None:
                raise ServingError(f"the gateway exited with status {self._gateway.returncode} "
                                   f"(port {self.port} taken?)")
            try:
                if httpx.get(f"{self.url}/v1/models", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        raise ServingError(f"the gateway did not answer on {self.url} within {self.startup_timeout_s:.0f}s")

    def stop(self) -> None:
        gateway, self._gateway = self._gateway, None
        if gateway is not None and gateway.poll() is None:
            stop_group(gateway)
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> LocalAPIs:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


class _Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        self.signum = signum


def _interrupt(signum: int, _frame: object) -> None:
    raise _Interrupted(signum)


def main(argv: list[str] | None = None) -> int:
    """`python -m harness.servers.vendor_apis [--port P] [--logs DIR] -- COMMAND...`: run COMMAND
    with every API role pointed at the local model; the servers stop when it ends."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m harness.servers.vendor_apis", description=main.__doc__)
    parser.add_argument("--model", default="smollm2-135m", help="local weights: alias, GGUF or checkpoint dir")
    parser.add_argument("--port", type=int, default=None,
                        help="the gateway's port (fix it to replay recorded calls later: the cache keys name it)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for decoding")
    parser.add_argument("--engine", choices=["in-process", "transformers"], default="in-process",
                        help="the gateway decodes itself (batched), or fronts `transformers serve`")
    parser.add_argument("--logs", type=Path, default=None, help="folder for the servers' logs")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)
    print(f"local APIs: starting {args.model} behind the Anthropic and OpenAI wire formats…", file=sys.stderr)
    # Ctrl-C or a terminate stops the command's whole process group first, then the servers.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        with LocalAPIs(args.model, port=args.port, threads=args.threads, log_dir=args.logs,
                       engine=args.engine) as apis:
            # The pid of the process holding the model: where to watch its memory during a rehearsal.
            print(f"local APIs: {apis.url} (ANTHROPIC_BASE_URL, OPENAI_BASE_URL/v1), model in pid {apis.server_pid}",
                  file=sys.stderr, flush=True)
            # Its own group, so the signal reaches the workers it starts and nothing else.
            child = subprocess.Popen(command, env={**os.environ, **apis.environment()}, process_group=0)
            try:
                return child.wait()
            except _Interrupted as interrupted:
                for signum in (signal.SIGINT, signal.SIGTERM):     # a second Ctrl-C must not cut the cleanup
                    signal.signal(signum, signal.SIG_IGN)
                print("local APIs: interrupted; stopping the command, then the servers", file=sys.stderr, flush=True)
                stop_group(child, interrupted.signum, grace_s=30.0)
                raise
    except _Interrupted as interrupted:
        return 128 + interrupted.signum


if __name__ == "__main__":
    sys.exit(main())
