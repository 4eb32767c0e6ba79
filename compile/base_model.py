"""The model a recipe starts from, with its tokenizer, ready to train.

Local sources (the "smollm2-135m" alias, a checkpoint folder, a .gguf file) load through
`harness.llm.weights` without touching a hub; a hub id (e.g. "Qwen/Qwen3-8B") loads with
`from_pretrained` on the GPU machines that have the hub or its cache; "scratch" builds a
tiny Llama with a tokenizer learnt from the training texts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from compile.recipe import SCRATCH, ModelSpec
from compile.tiny_model import build_tiny_model, train_tokenizer
from harness.llm.weights import SMOLLM2_ALIAS, load_causal_lm

__all__ = ["is_hub_id", "load_base", "torch_dtype"]

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def torch_dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


def is_hub_id(source: str) -> bool:
    return bool(_HUB_ID.fullmatch(source)) and not Path(source).expanduser().exists()


def load_base(spec: ModelSpec, *, corpus: Iterable[str], seed: int) -> tuple[Any, Any]:
    """`(model, tokenizer)` in train mode. `corpus` is read only for a scratch model's tokenizer."""
    dtype = torch_dtype(spec.dtype)
    if spec.source == SCRATCH:
        tokenizer = train_tokenizer(corpus, spec.scratch.vocab_size)
        model = build_tiny_model(spec.scratch, tokenizer, seed=seed, attention=spec.attention).to(dtype)
    elif spec.source.lower() == SMOLLM2_ALIAS or not is_hub_id(spec.source):
        model, tokenizer = load_causal_lm(spec.source, dtype=dtype)      # plain weights, GGUF label dropped
        if model.config._attn_implementation != spec.attention:
            model.set_attn_implementation(spec.attention)
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(spec.source, dtype=dtype, attn_implementation=spec.attention)
        tokenizer = AutoTokenizer.from_pretrained(spec.source)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
    model.train()
    return model, tokenizer

