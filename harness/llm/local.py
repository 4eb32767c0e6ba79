"""A transformers causal LM on this machine, with batched decoding.

Requests that arrive while the model is busy (or within `batch_wait_s` of each other) are
decoded together (`batching.BatchingProvider`): the prompts are left-padded and one
`generate` call decodes the whole batch.

Requests with different allowances (`max_tokens`) are regrouped: see `batching`.

`threads` sets torch's intra-op threads for the decoding thread (default: torch's choice).
`dtype` defaults to bfloat16 where the CPU multiplies it natively (float32 elsewhere): on 2
cores a decoding step at batch 12 takes 91 ms instead of 129, a prefill half as long.

A conversation's next request repeats its earlier turns: their keys and values are kept from
the batch that decoded them (`prefix_cache`) and only the new tokens are prefilled
(`reuse_prefixes=False` recomputes every prompt, as before).

A request with an `output` (a JSON Schema or a choice) is decoded under its grammar
(`constrained`, llguidance): every reply is schema-valid JSON, or exactly one option, unless
it runs out of `max_tokens` first. A request's tools, and the calls and results in its
history, are rendered as text and its calls read back (`tool_text`); a `tool_choice` that
requires a call constrains the reply to a call with valid arguments.

Decoding is greedy when `temperature == 0`. Otherwise each request samples with its own
`torch.Generator` seeded from (seed, trial) inside a logits processor, so its output does
not depend on which other requests shared its batch.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from .base import ChatRequest, ChatResult, Usage
from .batching import BatchingProvider, prompt_ids, sampling_seed
from .constrained import Grammars, grammar_for
from .prefix_cache import LayerKV, PrefixCache
from .weights import load_causal_lm

__all__ = ["LocalModel", "default_dtype"]


def default_dtype() -> torch.dtype:
    """bfloat16 where the CPU multiplies in it natively, float32 elsewhere (the weights stay on
    the CPU, also on a machine with a GPU: there vLLM is the engine)."""
    from harness.cpu import cpu_multiplies_bf16

    return torch.bfloat16 if cpu_multiplies_bf16() else torch.float32


class LocalModel(BatchingProvider):
    provider = "local"
    # Not cached by default: a checkpoint path can be retrained in place.
    cacheable = False
    constrains_output = True

    def __init__(
        self,
        source: str | Path | None = None,
        *,
        model: Any = None,
        tokenizer: Any = None,
        max_batch_size: int = 16,
        batch_wait_s: float = 0.02,
        regroup_wait_s: float = 0.5,
        dtype: torch.dtype | None = None,
        threads: int | None = None,
        reuse_prefixes: bool = True,
    ) -> None:
        if (model is None) != (tokenizer is None):
            raise ValueError("pass both model= and tokenizer= (already loaded), or neither")
        if source is None and model is None:
            raise ValueError(
                "LocalModel needs a source (path or alias) or a loaded model and tokenizer"
            )
        super().__init__(max_batch_size=max_batch_size, batch_wait_s=batch_wait_s,
                         regroup_wait_s=regroup_wait_s)
        self.source = (
            str(source) if source is not None else str(model.config.name_or_path or "custom")
        )
        self.model_id = f"local:{self.source}"
        self.name = self.model_id
        # bf16 where the CPU multiplies in it (1.4x per decoding step, 2x per prefill at batch
        # 12 on 2 cores); the served model decodes with the same default (model_server).
        self._dtype = dtype if dtype is not None else default_dtype()
        self._prefixes = PrefixCache(max_entries=2 * max_batch_size) if reuse_prefixes else None
        self.threads = threads
        self._weights: tuple[Any, Any] | None = (model, tokenizer) if model is not None else None
        self._load_lock = threading.Lock()
        self._grammars: Grammars | None = None

    def load(self) -> tuple[Any, Any]:
        """Load the weights now (otherwise the first request does); returns (model, tokenizer)."""
        with self._load_lock:
            if self._weights is None:
                self._weights = load_causal_lm(self.source, dtype=self._dtype)
            return self._weights

    async def generate(self, request: ChatRequest) -> ChatResult:
        grammar_for(request)   # a schema no grammar can express fails its own call, not its batch's
        return await super().generate(request)

    def _on_worker_start(self) -> None:
        if self.threads is not None:
            # Applies to this thread (and threads started after it), not to running ones. On a
            # small shared CPU, 1 thread avoids OpenMP spin-waiting against other processes.
            torch.set_num_threads(self.threads)

    def _generate_batch(self, requests: list[ChatRequest]) -> list[tuple[str, Usage]]:
        model, tokenizer = self.load()
        prompts = [prompt_ids(tokenizer, r) for r in requests]
        pad = tokenizer.pad_token_id
        reused = [self._prefixes.take(p) if self._prefixes is not None else (0, None) for p in prompts]
        # Each row: [padding, its reused prefix] [padding, the rest of its prompt]. Left padding in
        # both parts puts every row's reused tokens at the end of the cache and its last prompt
        # token where decoding starts; positions count only unmasked tokens (generate derives them
        # from the mask), so a row's positions run on across the gap. Nothing reused: one part.
        cached = max(n for n, _ in reused)
        fresh = max(len(p) - n for p, (n, _) in zip(prompts, reused, strict=True))
        width = cached + fresh
        rows, masks = [], []
        for prompt, (n, _) in zip(prompts, reused, strict=True):
            gap_a, gap_b = cached - n, fresh - (len(prompt) - n)
            rows.append([pad] * gap_a + prompt[:n] + [pad] * gap_b + prompt[n:])
            masks.append([0] * gap_a + [1] * n + [0] * gap_b + [1] * (len(prompt) - n))
        input_ids, attention_mask = torch.tensor(rows), torch.tensor(masks)
        cache = _seeded_cache(model, [kv for _, kv in reused], cached) if self._prefixes is not None else None
        sampler = _RowSampler(
            [r.temperature for r in requests], [sampling_seed(r) for r in requests]
        )
        eos = _eos_ids(model, tokenizer)
        processors = LogitsProcessorList([sampler] if sampler.active else [])
        if any(r.output is not None or r.tools for r in requests):
            if self._grammars is None:      # on the batching thread only: no lock needed
                self._grammars = Grammars(tokenizer, model.config.vocab_size, eos)
            constraint = self._grammars.constraint(requests)
            if constraint is not None:
                # The grammar's mask first: the sampler draws among the tokens it allows.
                processors.insert(0, constraint)
        with torch.inference_mode():
            generated = model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                max_new_tokens=max(r.max_tokens for r in requests),
                do_sample=False,  # greedy over the sampler's choice; see _RowSampler
                logits_processor=processors or None,
                pad_token_id=pad,
                eos_token_id=eos,
                **({"cache": cache} if cache is not None else {}),
            )
        outputs = []
        for row, (request, prompt) in enumerate(zip(requests, prompts, strict=True)):
            tokens = _until_eos(generated[row, width:].tolist(), eos)[: request.max_tokens]
            if cache is not None:
                self._keep(cache, row, prompt, reused[row][0], cached, width, tokens)
            text = _cut_at_stop(tokenizer.decode(tokens, skip_special_tokens=True), request.stop)
            outputs.append(
                (text, Usage(input_tokens=len(prompt), output_tokens=len(tokens), calls=1))
            )
        return outputs

    def _keep(self, cache: Any, row: int, prompt: list[int], reused: int, cached: int, width: int,
              reply: list[int]) -> None:
        """Store a row's prompt and reply with their keys and values (the last reply token has
        none: it was chosen, never fed) for the requests that continue its conversation."""
        assert self._prefixes is not None
        stored = min(len(reply), cache.get_seq_length() - width)
        spans = [(cached - reused, cached), (width - (len(prompt) - reused), width), (width, width + stored)]
        layers = [(torch.cat([layer.keys[row, :, a:b] for a, b in spans], dim=1),
                   torch.cat([layer.values[row, :, a:b] for a, b in spans], dim=1))
                  for layer in cache.layers]
        self._prefixes.put(prompt + reply[:stored], layers)


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


def _seeded_cache(model: Any, reused: list[LayerKV | None], width: int) -> Any:
    """A DynamicCache holding each row's reused keys and values, left-padded to `width` (the
    padding is masked, so its zeros are never attended to)."""
    from transformers import DynamicCache

    if width == 0:
        return DynamicCache(config=model.config)
    layers = []
    for index in range(model.config.num_hidden_layers):
        keys, values = [], []
        for row in reused:
            k, v = row[index] if row is not None else (None, None)
            keys.append(_left_pad(k, width, reused))
            values.append(_left_pad(v, width, reused))
        layers.append((torch.stack(keys), torch.stack(values)))
    return DynamicCache(layers, config=model.config)


def _left_pad(t: torch.Tensor | None, width: int, reused: list[LayerKV | None]) -> torch.Tensor:
    if t is None:   # a row with nothing reused: all padding, shaped like another row's
        like = next(r for r in reused if r is not None)[0][0]
        return like.new_zeros((like.shape[0], width, like.shape[2]))
    return torch.nn.functional.pad(t, (0, 0, width - t.shape[1], 0))


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
