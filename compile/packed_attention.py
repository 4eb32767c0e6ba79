"""Attention over a packed row, one conversation at a time (for training on the CPU).

A packed micro-batch is one row of several conversations, position ids restarting at 0 for
each. With `sdpa`, transformers turns that into a block-diagonal (L, L) mask and the kernel
computes all L^2 scores, most of them masked: 8 conversations of 400 tokens cost 8x the
attention they need. Flash-attention's varlen kernels skip the masked blocks, but only on
CUDA. This is the CPU stand-in, registered with transformers' `AttentionInterface` under
`PACKED_SDPA`: it runs causal sdpa on each conversation's slice (bounds from the batch's
`cu_seq_lens_q`, the same keyword the flash kernels read), so the linear layers still see
the whole row at once and attention costs what the conversations need. Anything else (a
padded batch, decoding with a cache) goes to plain sdpa, and no mask is built: the name is
not in `AttentionMaskInterface`, which transformers reads as "this kernel needs none".

The trainer switches a model to it only for its own forward passes on packed rows and back
before saving, so a checkpoint never names it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward

__all__ = ["PACKED_SDPA", "packed_sdpa_forward"]

PACKED_SDPA = "subterra_packed_sdpa"


def packed_sdpa_forward(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                        attention_mask: torch.Tensor | None, scaling: float | None = None, dropout: float = 0.0,
                        cu_seq_lens_q: torch.Tensor | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """(batch=1, heads, L, d) query, keys and values of one packed row -> (1, L, heads, d)."""
    packed = (attention_mask is None and cu_seq_lens_q is not None and query.shape[0] == 1
              and key.shape[2] == query.shape[2] and cu_seq_lens_q.numel() > 2)
    if not packed:          # one conversation (causal, no mask) or not a packed row: plain sdpa
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout,
                                      **kwargs)
    gqa = query.shape[1] != key.shape[1]
    bounds = cu_seq_lens_q.tolist()
    parts = [F.scaled_dot_product_attention(query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], is_causal=True,
                                            dropout_p=dropout if module.training else 0.0, scale=scaling,
                                            enable_gqa=gqa)
             for a, b in zip(bounds[:-1], bounds[1:], strict=False) if b > a]
    return torch.cat(parts, dim=2).transpose(1, 2).contiguous(), None


AttentionInterface.register(PACKED_SDPA, packed_sdpa_forward)
