"""Batched decoding for providers that run a model in this process (local, vllm).

Requests that arrive while the model is busy (or within `batch_wait_s` of each other) are
decoded together: one background thread drains a queue and hands the batch to the
provider's `_generate_batch` (the idea of Inspect AI's `_providers/hf.py`). Callers await
their own request; an error in a batch reaches every caller of that batch.

A batch decodes until its longest allowance (`max_tokens`) or until every row has ended, so
requests with different allowances are not decoded together: the shortest group goes first
(an orchestrator's 8-token routing question) and the rest wait, up to `regroup_wait_s`, for
the requests that group's callers send next (the reply the routing unblocks). Without this,
routed conversations fall one generate call behind the others at every hub and the calls
per turn double.

A time window makes a batch depend on how fast its callers were, and a greedy reply on its
batch (its padding, what it shares the kernels with). Callers that say so (`caller()`: the
runner marks each running conversation) are waited for instead: a batch closes once each of
them has a request in it, so the same conversations give the same batches on a busy machine.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import hashlib
import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .base import ChatRequest, ChatResult, Usage
from .provider import Provider
from .tool_text import chat_messages, parse_calls

__all__ = ["BatchingProvider", "prompt_ids", "sampling_seed"]


@dataclass
class _Pending:
    request: ChatRequest
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[ChatResult]
    submitted: float


_STOP = object()
_WAKE = object()       # a caller left: a batch waiting for it need not wait any more


class BatchingProvider(Provider):
    """A provider whose requests are decoded in batches by one background thread.

    Subclasses implement `_generate_batch` (and may override `_on_worker_start`).
    """

    # The engine decodes a request's `output` under its grammar (results say `constrained`).
    constrains_output: bool = False

    def __init__(self, *, max_batch_size: int, batch_wait_s: float, regroup_wait_s: float = 0.0,
                 caller_wait_s: float = 5.0) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_s
        self.regroup_wait_s = regroup_wait_s
        self.caller_wait_s = caller_wait_s
        self._callers = 0
        self._callers_lock = threading.Lock()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._worker_lock = threading.Lock()
        self.batch_sizes: list[int] = []  # one entry per batch; for tests and benchmarks

    @abc.abstractmethod
    def _generate_batch(self, requests: list[ChatRequest]) -> list[tuple[str, Usage]]:
        """(text, usage) per request, in order; runs on the batching thread."""

    def _on_worker_start(self) -> None:  # noqa: B027 - optional hook
        """Runs once on the batching thread before its first batch."""

    @contextlib.contextmanager
    def caller(self) -> Iterator[None]:
        """Marks one caller (a conversation) that sends a request at a time until it leaves.

        While callers are marked, a batch closes once every one of them has a request in it
        (or after `caller_wait_s`), instead of after a time window: which requests decode
        together, and so every greedy reply, no longer depends on how fast the callers were
        (a gate whose conditions run side by side gets the transcripts of one that runs them
        one at a time)."""
        with self._callers_lock:
            self._callers += 1
        try:
            yield
        finally:
            with self._callers_lock:
                self._callers -= 1
            self._queue.put(_WAKE)

    async def generate(self, request: ChatRequest) -> ChatResult:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ChatResult] = loop.create_future()
        self._start_worker()
        self._queue.put(_Pending(request, loop, future, time.perf_counter()))
        return await future

    async def aclose(self) -> None:
        with self._worker_lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            self._queue.put(_STOP)
            await asyncio.to_thread(worker.join)

    def _start_worker(self) -> None:
        with self._worker_lock:
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._serve, name=f"{self.name}-batcher", daemon=True
                )
                self._worker.start()

    def _serve(self) -> None:
        self._on_worker_start()
        stopping = False
        held: list[_Pending] = []          # longer requests set aside for the next batch
        expected = 0                       # follow-ups the last short batch's callers will send
        while not stopping or held:
            batch, held = held, []
            if not batch:
                first = self._queue.get()
                if first is _STOP:
                    return
                if first is _WAKE:
                    continue
                batch = [first]
            # Gather what is queued already, and what arrives a moment later (gather() of many
            # coroutines enqueues them one by one; held requests wait for the follow-ups).
            # With callers marked, wait for all of them instead (see `caller`).
            arrived, wait = 0, self.regroup_wait_s if expected else self.batch_wait_s
            started = time.monotonic()
            deadline = started + wait
            while not stopping and len(batch) < self.max_batch_size:
                callers = self._callers
                if callers:
                    if len(batch) >= min(callers, self.max_batch_size):
                        break
                    deadline = started + self.caller_wait_s
                elif expected and arrived >= expected:
                    wait, expected = self.batch_wait_s, 0
                    deadline = min(deadline, time.monotonic() + wait)
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                if item is _WAKE:
                    continue
                batch.append(item)
                arrived += 1
            shortest = min(p.request.max_tokens for p in batch)
            now = [p for p in batch if p.request.max_tokens == shortest]
            held = [p for p in batch if p.request.max_tokens != shortest]
            expected = len(now) if held else 0
            self._run_batch(now)

    def _run_batch(self, batch: list[_Pending]) -> None:
        self.batch_sizes.append(len(batch))
        try:
            outputs = self._generate_batch([p.request for p in batch])
        except BaseException as error:  # handed to every waiting caller, not swallowed
            for pending in batch:
                _resolve(pending, error=error)
            return
        for pending, (text, usage) in zip(batch, outputs, strict=True):
            text, calls = parse_calls(pending.request, text)
            result = ChatResult(
                text=text,
                tool_calls=calls,
                usage=usage,
                model=self.model_id,
                latency_s=time.perf_counter() - pending.submitted,
                constrained=self.constrains_output and pending.request.output is not None,
            )
            _resolve(pending, result=result)


def prompt_ids(tokenizer: Any, request: ChatRequest) -> list[int]:
    """The request's messages through the tokenizer's chat template, ready for the reply (its
    tools, calls and results as text: `tool_text`)."""
    return list(
        tokenizer.apply_chat_template(
            chat_messages(request),
            add_generation_prompt=True,
            tokenize=True,
            return_dict=False,
        )
    )


def sampling_seed(request: ChatRequest) -> int:
    """The seed of a sampled request: its own seed and trial, and its messages (so trials differ)."""
    material = json.dumps(
        [request.seed, request.trial, [[m.role, m.content] for m in request.messages]]
    )
    return int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "big")


def _resolve(
    pending: _Pending, *, result: ChatResult | None = None, error: BaseException | None = None
) -> None:
    def settle() -> None:
        if pending.future.done():  # the caller was cancelled meanwhile
            return
        if error is not None:
            pending.future.set_exception(error)
        else:
            pending.future.set_result(result)  # type: ignore[arg-type]

    try:
        pending.loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the caller's event loop has closed; nobody is waiting any more
        pass
