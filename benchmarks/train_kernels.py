"""The trainer's two CPU kernels against what torch does by default, forward + backward, in one run.

- attention over a packed row (compile.packed_attention): one conversation of n tokens with
  SmolLM2-135M's heads (9 query, 3 key/value, 64 dims), our batched matmuls vs torch's sdpa
  (the CPU flash kernel) on the same slice; the kernel hands conversations longer than
  MATMUL_MAX_TOKENS to sdpa, and this shows where that line sits;
- the loss (compile.token_loss): summed cross-entropy of (agent tokens x 49,152) logits, our
  fp32 chunks vs `F.cross_entropy(logits.float(), ...)`.

Inputs in bf16, as under the smollm2-135m recipe's autocast on a CPU with bf16 instructions.
Each figure is the median of `--repeats` timings after one warm-up; the ratio is torch's time
over ours (above 1: ours is faster).

    .venv/bin/python benchmarks/train_kernels.py                # ~1 min on 2 cores

Measured (2 quiet cores, AVX512-BF16, one run):
    attention  n=300  3.6 ms vs 7.4 (2.06x); 640  17.3 vs 24.1 (1.39x); 768  27.5 vs 25.6
               (0.93x); 1024  50.3 vs 43.8 (0.87x)
    loss       2,000 x 49,152: 198 ms vs 510 (2.58x)
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from compile import packed_attention
from compile.token_loss import summed_cross_entropy

HEADS, KV_HEADS, HEAD_DIM, VOCAB = 9, 3, 64, 49_152


class _Layer:
    training = True


def _median_ms(run: Callable[[], None], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def attention(n: int, repeats: int) -> tuple[float, float]:
    """(ours, sdpa) milliseconds for one n-token conversation, forward + backward."""
    generator = torch.Generator().manual_seed(n)
    query, key, value = (torch.randn(1, n, heads, HEAD_DIM, generator=generator, dtype=torch.bfloat16)
                         .transpose(1, 2).requires_grad_() for heads in (HEADS, KV_HEADS, KV_HEADS))
    bounds = torch.tensor([0, n])
    upstream = torch.randn(1, n, HEADS, HEAD_DIM, generator=generator, dtype=torch.bfloat16)

    def run(limit: int) -> Callable[[], None]:
        def once() -> None:
            packed_attention.MATMUL_MAX_TOKENS = limit
            out, _ = packed_attention.packed_attention_forward(_Layer(), query, key, value, None,
                                                               scaling=HEAD_DIM ** -0.5, cu_seq_lens_q=bounds)
            out.backward(upstream)
        return once
    default = packed_attention.MATMUL_MAX_TOKENS
    try:
        return _median_ms(run(n), repeats), _median_ms(run(0), repeats)     # limit 0: every slice to sdpa
    finally:
        packed_attention.MATMUL_MAX_TOKENS = default


def loss(rows: int, repeats: int) -> tuple[float, float]:
    """(ours, torch's) milliseconds for the summed cross-entropy of (rows, VOCAB) bf16 logits."""
    generator = torch.Generator().manual_seed(rows)
    logits = (3 * torch.randn(rows, VOCAB, generator=generator)).to(torch.bfloat16).requires_grad_()
    targets = torch.randint(0, VOCAB, (rows,), generator=generator)

    def ours() -> None:
        summed_cross_entropy(logits, targets).backward()

    def torchs() -> None:
        F.cross_entropy(logits.float(), targets, reduction="sum").backward()
    return _median_ms(ours, repeats), _median_ms(torchs, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[300, 640, 768, 1024],
                        help="conversation lengths for the attention rows")
    parser.add_argument("--rows", type=int, default=2000, help="agent tokens (logit rows) for the loss row")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, bf16 inputs; "
          f"MATMUL_MAX_TOKENS = {packed_attention.MATMUL_MAX_TOKENS}")
    for n in args.lengths:
        ours, theirs = attention(n, args.repeats)
        print(f"attention  n={n:5d}   ours {ours:7.1f} ms   sdpa {theirs:7.1f} ms   {theirs / ours:5.2f}x")
    ours, theirs = loss(args.rows, args.repeats)
    print(f"loss       {args.rows} x {VOCAB}   ours {ours:7.1f} ms   F.cross_entropy {theirs:7.1f} ms   "
          f"{theirs / ours:5.2f}x")


if __name__ == "__main__":
    main()
