"""The chunked cross-entropy against torch's, value and gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from compile.token_loss import ROWS, summed_cross_entropy


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("n", [1, ROWS, 3 * ROWS + 5])          # one row, one chunk, a ragged last chunk
def test_value_and_gradient_are_torchs_cross_entropy_in_fp32(dtype, n) -> None:
    generator = torch.Generator().manual_seed(n)
    logits = (4 * torch.randn(n, 1000, generator=generator)).to(dtype).requires_grad_()
    targets = torch.randint(0, 1000, (n,), generator=generator)
    expected = F.cross_entropy(logits.float(), targets, reduction="sum")
    (expected_grad,) = torch.autograd.grad(2.5 * expected, logits)
    ours = summed_cross_entropy(logits, targets)
    (grad,) = torch.autograd.grad(2.5 * ours, logits)
    assert ours.dtype == torch.float32 and grad.dtype == dtype
    torch.testing.assert_close(ours, expected)
    torch.testing.assert_close(grad, expected_grad)


def test_a_wrong_prediction_costs_more_than_a_right_one() -> None:
    logits = torch.tensor([[5.0, 0.0, 0.0]])
    right, wrong = summed_cross_entropy(logits, torch.tensor([0])), summed_cross_entropy(logits, torch.tensor([2]))
    assert float(right) < 0.02 < 5.0 < float(wrong)
