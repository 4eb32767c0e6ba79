"""Attention over a packed row, one conversation at a time (for training on the CPU).

A packed micro-batch is one row of several conversations, position ids restarting at 0 for
each. With `sdpa`, transformers turns that into a block-diagonal (L, L) mask and the kernel
computes all L^2 scores, most of them masked: 8 conversations of 400 tokens cost 8x the
attention they need. Flash-attention's varlen kernels skip the masked blocks, but only on
CUDA. This is the CPU stand-in, registered with transformers' `AttentionInterface` under
`PACKED_ATTENTION`: it attends within each conversation's slice (bounds from the batch's
`cu_seq_lens_q`, the same keyword the flash kernels read), so the linear layers still see
the whole row at once and attention costs what the conversations need. Anything else (a
padded batch, decoding with a cache) goes to plain sdpa, and no mask is built: the name is
not in `AttentionMaskInterface`, which transformers reads as "this kernel needs none".

Each slice is attended with two batched matmuls and a softmax in the inputs' dtype, the query
heads that share a key/value head stacked into one matmul (grouped-query attention without
copying keys and values). Torch's CPU flash kernel, which `sdpa` picks here, is tiled for long
sequences: on conversations of ~300 tokens with 64-dim heads (SmolLM2-135M, bf16) it takes
twice as long forward and backward, at the same error against an fp32 reference
(benchmarks/train_kernels.py times it; tests/compile/test_packed_attention.py checks the values).
Conversations longer than `MATMUL_MAX_TOKENS`, where the flash kernel's tiles win, still go to
sdpa.

The trainer switches a model to it only for its own forward passes on packed rows and back
before saving, so a checkpoint never names it.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward

__all__ = ["PACKED_ATTENTION", "packed_attention_forward"]

PACKED_ATTENTION = "subterra_packed_attention"
# Where the matmuls stop paying (benchmarks/train_kernels.py): forward + backward of one
# conversation with SmolLM2-135M's 9 query and 3 key/value heads, bf16, 2 cores, takes 3.6 ms
# against the flash kernel's 7.4 at 300 tokens, 17.3 against 24.1 at 640, 27.5 against 25.6 at
# 768 and 50 against 44 at 1024, where the flash kernel has switched to larger tiles. The
# matmuls also keep heads x n^2 probabilities for the backward pass (7 MB a layer at 640
# tokens), the flash kernel O(n).
MATMUL_MAX_TOKENS = 640


def packed_attention_forward(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                             attention_mask: torch.Tensor | None, scaling: float | None = None, dropout: float = 0.0,
                             cu_seq_lens_q: torch.Tensor | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """(batch=1, heads, L, d) query, (1, kv_heads, L, d) keys and values of one packed row
    -> (1, L, heads, d), each position attending to the positions of its own conversation."""
    packed = (attention_mask is None and cu_seq_lens_q is not None and query.shape[0] == 1
              and key.shape[2] == query.shape[2])
    if not packed:          # a padded batch or decoding with a cache: plain sdpa
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout,
                                      **kwargs)
    lengths = cu_seq_lens_q.diff().tolist()
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
    dropout = dropout if module.training else 0.0
    parts = [_causal_attention(q, k, v, scaling, dropout)
             for q, k, v in zip(query.split(lengths, 2), key.split(lengths, 2), value.split(lengths, 2), strict=True)]
    return torch.cat(parts).unsqueeze(0), None


def _causal_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scaling: float,
                      dropout: float) -> torch.Tensor:
    """One conversation: (1, heads, n, d) query, (1, kv_heads, n, d) keys/values -> (n, heads, d)."""
    _, heads, n, dim = query.shape
    kv_heads = key.shape[1]
    if n > MATMUL_MAX_TOKENS:
        out = F.scaled_dot_product_attention(query, key, value, is_causal=True, dropout_p=dropout, scale=scaling,
                                             enable_gqa=heads != kv_heads)
        return out[0].transpose(0, 1)
    groups = heads // kv_heads
    # head h reads key/value head h // groups (transformers' repeat_kv): the `groups` query heads
    # of a key/value head become one (groups * n, d) block multiplied by its keys at once
    stacked = query.reshape(kv_heads, groups * n, dim)
    scores = torch.baddbmm(_causal_mask(n, groups, query.dtype, query.device), stacked,
                           key[0].transpose(1, 2), alpha=scaling)
    weights = F.dropout(torch.softmax(scores, dim=-1), p=dropout, training=dropout > 0)
    return (weights @ value[0]).reshape(heads, n, dim).transpose(0, 1)


@functools.lru_cache(maxsize=64)
def _causal_mask(n: int, groups: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(groups * n, n): 0 where a position may attend, -inf after it, once per stacked head."""
    future = torch.ones(n, n, dtype=torch.bool, device=device).triu(1)
    return torch.zeros(n, n, dtype=dtype, device=device).masked_fill(future, float("-inf")).repeat(groups, 1)


AttentionInterface.register(PACKED_ATTENTION, packed_attention_forward)
