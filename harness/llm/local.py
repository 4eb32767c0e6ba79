"""A transformers causal LM on this machine, with batched decoding.

Requests that arrive while the model is busy (or within `batch_wait_s` of each other) are
decoded together: one background thread drains a queue, left-pads the prompts and runs one
`generate` call for the whole batch (the idea of Inspect AI's `_providers/hf.py`).

A batch decodes until its longest allowance (`max_tokens`) or until every row has ended, so
requests with different allowances are not decoded together: the shortest group goes first
(an orchestrator's 8-token routing question) and the rest wait, up to `regroup_wait_s`, for
the requests that group's callers send next (the reply the routing unblocks). Without this,
routed conversations fall one generate call behind the others at every hub and the calls
per turn double.

`threads` sets torch's intra-op threads for the decoding thread (default: torch's choice).

Decoding is greedy when `temperature == 0`. Otherwise each request samples with its own
`torch.Generator` seeded from (seed, trial) inside a logits processor, so its output does
not depend on which other requests shared its batch.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from .base import ChatRequest, ChatResult, Usage
from .provider import Provider
from .weights import load_causal_lm

__all__ = ["LocalModel"]


@dataclass
class _Pending:
    request: ChatRequest
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[ChatResult]
    submitted: float


_STOP = object()


class LocalModel(Provider):
    provider = "local"
    # Not cached by default: a checkpoint path can be retrained in place.
    cacheable = False

    def __init__(
        self,
        source: str | Path | None = None,
        *,
        model: Any = None,
        tokenizer: Any = None,
        max_batch_size: int = 16,
        batch_wait_s: float = 0.02,
        regroup_wait_s: float = 0.5,
        dtype: torch.dtype = torch.float32,
        threads: int | None = None,
    ) -> None:
        if (model is None) != (tokenizer is None):
            raise ValueError("pass both model= and tokenizer= (already loaded), or neither")
        if source is None and model is None:
            raise ValueError(
                "LocalModel needs a source (path or alias) or a loaded model and tokenizer"
            )
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.source = (
            str(source) if source is not None else str(model.config.name_or_path or "custom")
        )
        self.model_id = f"local:{self.source}"
        self.name = self.model_id
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_s
        self.regroup_wait_s = regroup_wait_s
        self._dtype = dtype
        self.threads = threads
        self._weights: tuple[Any, Any] | None = (model, tokenizer) if model is not None else None
        self._load_lock = threading.Lock()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._worker_lock = threading.Lock()
        self.batch_sizes: list[int] = []  # one entry per generate call; for tests and benchmarks

    def load(self) -> tuple[Any, Any]:
        """Load the weights now (otherwise the first request does); returns (model, tokenizer)."""
        with self._load_lock:
            if self._weights is None:
                self._weights = load_causal_lm(self.source, dtype=self._dtype)
            return self._weights

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

    # -- the batching thread -------------------------------------------------------------

    def _serve(self) -> None:
        if self.threads is not None:
            # Applies to this thread (and threads started after it), not to running ones. On a
            # small shared CPU, 1 thread avoids OpenMP spin-waiting against other processes.
            torch.set_num_threads(self.threads)
        stopping = False
        held: list[_Pending] = []          # longer requests set aside for the next batch
        expected = 0                       # follow-ups the last short batch's callers will send
        while not stopping or held:
            batch, held = held, []
            if not batch:
                first = self._queue.get()
                if first is _STOP:
                    return
                batch = [first]
            # Gather what is queued already, and what arrives a moment later (gather() of many
            # coroutines enqueues them one by one; held requests wait for the follow-ups).
            arrived, wait = 0, self.regroup_wait_s if expected else self.batch_wait_s
            deadline = time.monotonic() + wait
            while not stopping and len(batch) < self.max_batch_size:
                if expected and arrived >= expected:
                    wait, expected = self.batch_wait_s, 0
                    deadline = min(deadline, time.monotonic() + wait)
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
                arrived += 1
            shortest = min(p.request.max_tokens for p in batch)
            now = [p for p in batch if p.request.max_tokens == shortest]
            held = [p for p in batch if p.request.max_tokens != shortest]
            expected = len(now) if held else 0
            self._run_batch(now)

    def _run_batch(self, batch: list[_Pending]) -> None:
        try:
            outputs = self._generate_batch([p.request for p in batch])
        except BaseException as error:  # handed to every waiting caller, not swallowed
            for pending in batch:
                _resolve(pending, error=error)
            return
        for pending, (text, usage) in zip(batch, outputs, strict=True):
            result = ChatResult(
                text=text,
                usage=usage,
                model=self.model_id,
                latency_s=time.perf_counter() - pending.submitted,
            )
            _resolve(pending, result=result)

    def _generate_batch(self, requests: list[ChatRequest]) -> list[tuple[str, Usage]]:
        model, tokenizer = self.load()
        self.batch_sizes.append(len(requests))
        prompts = [
            tokenizer.apply_chat_template(
                [{"role": m.role, "content": m.content} for m in r.messages],
                add_generation_prompt=True,
                tokenize=True,
                return_dict=False,
            )
            for r in requests
        ]
        width = max(len(p) for p in prompts)
        pad = tokenizer.pad_token_id
        # Left padding: every row's last prompt token sits at the same position, where decoding starts.
        input_ids = torch.tensor([[pad] * (width - len(p)) + list(p) for p in prompts])
        attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        sampler = _RowSampler(
            [r.temperature for r in requests], [_sampling_seed(r) for r in requests]
        )
        eos = _eos_ids(model, tokenizer)
        with torch.inference_mode():
            generated = model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                max_new_tokens=max(r.max_tokens for r in requests),
                do_sample=False,  # greedy over the sampler's choice; see _RowSampler
                logits_processor=LogitsProcessorList([sampler]) if sampler.active else None,
                pad_token_id=pad,
                eos_token_id=eos,
            )
        outputs = []
        for row, (request, prompt) in enumerate(zip(requests, prompts, strict=True)):
            tokens = _until_eos(generated[row, width:].tolist(), eos)[: request.max_tokens]
            text = _cut_at_stop(tokenizer.decode(tokens, skip_special_tokens=True), request.stop)
            outputs.append(
                (text, Usage(input_tokens=len(prompt), output_tokens=len(tokens), calls=1))
            )
        return outputs


class _RowSampler(LogitsProcessor):
    """Samples rows with temperature > 0 from their own generators; leaves greedy rows alone.

    The chosen token is made the only finite logit, so `generate`'s greedy step picks it.
    """

    def __init__(self, temperatures: list[float], seeds: list[int]) -> None:
        self.temperatures = temperatures
        self.generators = []
        for temperature, seed in zip(temperatures, seeds, strict=True):
            generator = None
            if temperature > 0:
                generator = torch.Generator().manual_seed(seed)
            self.generators.append(generator)
        self.active = any(t > 0 for t in temperatures)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.clone()
        for row, (temperature, generator) in enumerate(
            zip(self.temperatures, self.generators, strict=True)
        ):
            if generator is None:
                continue
            probabilities = torch.softmax(scores[row].float() / temperature, dim=-1)
            choice = torch.multinomial(probabilities, 1, generator=generator)
            scores[row] = float("-inf")
            scores[row, choice] = 0.0
        return scores


def _sampling_seed(request: ChatRequest) -> int:
    # Trials of a sampled request must differ; without a seed, derive one from the request.
    material = json.dumps(
        [request.seed, request.trial, [[m.role, m.content] for m in request.messages]]
    )
    return int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "big")


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    ids = model.generation_config.eos_token_id
    found = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        found.add(tokenizer.eos_token_id)
    return sorted(found)


def _until_eos(tokens: list[int], eos: list[int]) -> list[int]:
    """Generated tokens up to and including the first end-of-sequence (later ones are padding)."""
    for index, token in enumerate(tokens):
        if token in eos:
            return tokens[: index + 1]
    return tokens


def _cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    cuts = [text.find(s) for s in stop if s and s in text]
    return text[: min(cuts)] if cuts else text


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
