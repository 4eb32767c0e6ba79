"""A model decoded by vLLM in this process, in batches, on a GPU machine (the `gpu` extra).

    get_model("vllm:exports/travel")        # a Hugging Face folder (e.g. `subterra export`)

Requests are gathered as the local provider gathers them (`batching.BatchingProvider`) and
go to one `vllm.LLM.generate` call per batch. Prompts are built here, with the tokenizer's
chat template, exactly as the local provider builds them, and handed to vLLM as token ids,
so both providers decode the same tokens. `temperature == 0` is greedy; a sampled request
carries its own seed (derived as the local provider derives it).

A request's `output` goes to vLLM's own structured-output decoding (its xgrammar or
guidance backend): `structured_outputs=StructuredOutputsParams(json=... | choice=[...])` in
vLLM releases that have it, `guided_decoding=GuidedDecodingParams(...)` in older ones. A
choice comes back as the bare option, as from the local provider.

The engine is created on first use. Tests (and callers with an engine already built) pass
`engine=` and `sampling_params=`: anything with vLLM's `generate` / `get_tokenizer` and a
`SamplingParams`-like factory (and `structured_params=`: the keyword and the factory of the
structured-output parameters).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .base import ChatRequest, Usage
from .batching import BatchingProvider, prompt_ids, sampling_seed
from .errors import ConfigurationError

__all__ = ["VLLMModel", "vllm_unavailable_reason"]


def vllm_unavailable_reason() -> str | None:
    """Why vLLM cannot run here (None when it can): not installed, or no CUDA device."""
    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed (pip install 'subterra[gpu]' on a GPU machine)"
    import torch

    if not torch.cuda.is_available():
        return "vllm is installed but no CUDA device is visible"
    return None


def _structured_outputs_api() -> tuple[str, Callable[..., Any]]:
    """vLLM's keyword and parameter class for structured outputs (renamed in vLLM 0.10.2)."""
    from vllm import sampling_params

    if hasattr(sampling_params, "StructuredOutputsParams"):
        return "structured_outputs", sampling_params.StructuredOutputsParams
    return "guided_decoding", sampling_params.GuidedDecodingParams


class VLLMModel(BatchingProvider):
    provider = "vllm"
    # Like local: the weights at a path can change in place.
    cacheable = False
    constrains_output = True

    def __init__(
        self,
        source: str | Path,
        *,
        engine: Any = None,
        sampling_params: Callable[..., Any] | None = None,
        structured_params: tuple[str, Callable[..., Any]] | None = None,
        max_batch_size: int = 256,
        batch_wait_s: float = 0.02,
        engine_options: dict[str, Any] | None = None,
    ) -> None:
        if (engine is None) != (sampling_params is None):
            raise ValueError("pass both engine= and sampling_params= (already built), or neither")
        if engine is None and (reason := vllm_unavailable_reason()) is not None:
            raise ConfigurationError(f"provider 'vllm' cannot run: {reason}")
        super().__init__(max_batch_size=max_batch_size, batch_wait_s=batch_wait_s)
        self.source = str(source)
        self.model_id = f"vllm:{self.source}"
        self.name = self.model_id
        self._engine = engine
        self._sampling_params = sampling_params
        self._structured_params = structured_params
        # vLLM's own defaults otherwise; seed fixed so that its sampled requests repeat.
        self._engine_options = {"seed": 0, **(engine_options or {})}
        self._load_lock = threading.Lock()

    def load(self) -> Any:
        """Build the engine now (otherwise the first request does); returns it."""
        with self._load_lock:
            if self._engine is None:
                import vllm

                self._engine = vllm.LLM(model=self.source, **self._engine_options)
                self._sampling_params = vllm.SamplingParams
                if self._structured_params is None:
                    self._structured_params = _structured_outputs_api()
            return self._engine

    def sampling_params(self, request: ChatRequest) -> Any:
        """vLLM's sampling parameters for `request` (greedy when its temperature is 0)."""
        options: dict[str, Any] = {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stop": list(request.stop),
        }
        if request.temperature > 0:
            options["seed"] = sampling_seed(request)
        if request.output is not None:
            if self._structured_params is None:
                raise ConfigurationError("this vllm engine was given no structured_params= for a request's output")
            keyword, factory = self._structured_params
            options[keyword] = (factory(json=request.output.json_schema) if request.output.json_schema is not None
                                else factory(choice=list(request.output.choices)))
        assert self._sampling_params is not None  # set with the engine
        return self._sampling_params(**options)

    def _generate_batch(self, requests: list[ChatRequest]) -> list[tuple[str, Usage]]:
        engine = self.load()
        tokenizer = engine.get_tokenizer()
        prompts = [{"prompt_token_ids": prompt_ids(tokenizer, r)} for r in requests]
        outputs = engine.generate(
            prompts, [self.sampling_params(r) for r in requests], use_tqdm=False
        )
        if len(outputs) != len(requests):
            raise RuntimeError(f"vllm returned {len(outputs)} outputs for {len(requests)} prompts")
        results = []
        for prompt, output in zip(prompts, outputs, strict=True):
            completion = output.outputs[0]
            usage = Usage(
                input_tokens=len(prompt["prompt_token_ids"]),
                output_tokens=len(completion.token_ids),
                calls=1,
            )
            results.append((completion.text, usage))
        return results
