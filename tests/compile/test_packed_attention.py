"""The packed-row attention kernel against torch's sdpa run on each conversation alone."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from compile import packed_attention
from compile.packed_attention import packed_attention_forward


class _Layer:
    training, is_causal, num_key_value_groups = True, True, 2     # what transformers' sdpa reads


def _row(lengths: list[int], heads: int, kv_heads: int, dtype: torch.dtype, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    total, dim = sum(lengths), 16
    # transformers hands the kernel transposed views of (1, L, heads, d) projections
    query, key, value = (torch.randn(1, total, h, dim, generator=generator).to(dtype).transpose(1, 2)
                         .requires_grad_() for h in (heads, kv_heads, kv_heads))
    bounds = torch.tensor([0, *lengths]).cumsum(0)
    return query, key, value, bounds


def _one_by_one(query, key, value, bounds, scaling):
    parts = [F.scaled_dot_product_attention(query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], is_causal=True,
                                            scale=scaling, enable_gqa=query.shape[1] != key.shape[1])
             for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)]
    return torch.cat(parts, dim=2).transpose(1, 2)


@pytest.mark.parametrize(("heads", "kv_heads"), [(6, 2), (4, 4)])
@pytest.mark.parametrize("matmul_max_tokens", [640, 8])       # 8: the two longest go to sdpa
def test_each_conversation_attends_to_itself_only_with_values_and_gradients_of_sdpa(
        heads, kv_heads, matmul_max_tokens, monkeypatch) -> None:
    monkeypatch.setattr(packed_attention, "MATMUL_MAX_TOKENS", matmul_max_tokens)
    lengths = [5, 17, 1, 9]
    query, key, value, bounds = _row(lengths, heads, kv_heads, torch.float64)
    ours, none = packed_attention_forward(_Layer(), query, key, value, None, scaling=0.3, cu_seq_lens_q=bounds)
    assert none is None and ours.shape == (1, sum(lengths), heads, 16)
    upstream = torch.randn_like(ours)
    ours_grads = torch.autograd.grad(ours, (query, key, value), upstream)
    reference = _one_by_one(query, key, value, bounds, 0.3)
    torch.testing.assert_close(ours, reference)
    for mine, theirs in zip(ours_grads, torch.autograd.grad(reference, (query, key, value), upstream), strict=True):
        torch.testing.assert_close(mine, theirs)


def test_bf16_error_against_fp64_is_no_worse_than_sdpas() -> None:
    lengths = [300, 260, 340]
    exact = _row(lengths, 9, 3, torch.float64, seed=1)
    truth = _one_by_one(*exact, 0.125).float()
    query, key, value, bounds = _row(lengths, 9, 3, torch.bfloat16, seed=1)
    ours = packed_attention_forward(_Layer(), query, key, value, None, scaling=0.125, cu_seq_lens_q=bounds)[0]
    sdpa = _one_by_one(query, key, value, bounds, 0.125)

    def error(x: torch.Tensor) -> float:
        return float((x.float() - truth).norm() / truth.norm())
    assert error(ours) <= 1.25 * error(sdpa) + 1e-4


def test_a_padded_batch_goes_to_plain_sdpa() -> None:
    query, key, value, _ = _row([8], 4, 2, torch.float32)
    mask = torch.ones(1, 1, 8, 8, dtype=torch.bool).tril()
    ours = packed_attention_forward(_Layer(), query, key, value, mask, scaling=0.25)[0]
    expected = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=0.25, enable_gqa=True)
    torch.testing.assert_close(ours, expected.transpose(1, 2))
