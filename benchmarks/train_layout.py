"""The smollm2-135m recipe's step layout, before and after, in one run: eight micro-batches of
one conversation with AdamW's for-each update (before) vs the step's eight conversations packed
into one row (attention within each, compile.packed_attention), then also AdamW fused (after).

Each variant starts from the same base weights and trains the same optimizer steps on the same
conversations (travel, generated offline) with the trainer's loss (agent tokens only, the sum
over the step divided by the step's tokens) under the recipe's bf16 autocast where the CPU has
it. Printed per variant: input tokens/s over the timed steps (one warm-up step first, not
timed), its speed-up over the first row, and the loss of the last step (the same data and
gradient, so it should agree to a few decimals).

    .venv/bin/python benchmarks/train_layout.py              # ~5 min on 2 cores
    .venv/bin/python benchmarks/train_layout.py --steps 2
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")     # before torch is imported (see Makefile)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from train_throughput import offline_conversations  # noqa: E402

from compile.base_model import load_base  # noqa: E402
from compile.dataset import collate, epoch_batches, tokenize_conversations  # noqa: E402
from compile.packed_attention import PACKED_SDPA  # noqa: E402
from compile.recipe import load_recipe  # noqa: E402
from compile.train import _loss_sum  # noqa: E402

VARIANTS = [("8 micro-batches of 1, AdamW for-each", 1, False),
            ("1 packed row of 8, AdamW for-each", 8, False),
            ("1 packed row of 8, AdamW fused", 8, True)]


def run_variant(per_micro: int, fused: bool, examples: list, steps: int, autocast: bool) -> tuple[float, float]:
    recipe = load_recipe("smollm2-135m")
    model, tokenizer = load_base(recipe.model, corpus=[], seed=recipe.seed)
    model.set_attn_implementation(PACKED_SDPA)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, fused=fused or None)
    order = [i for batch in epoch_batches(len(examples), 8, seed=recipe.seed, epoch=0) for i in batch]
    fed, seconds, loss = 0, 0.0, 0.0
    for step in range(steps + 1):                       # step 0 warms up
        chosen = order[step * 8:(step + 1) * 8]
        micro = [collate([examples[i] for i in chosen[k:k + per_micro]], packing=True,
                         pad_token_id=tokenizer.pad_token_id) for k in range(0, 8, per_micro)]
        targets = sum(m.n_targets for m in micro)
        started, total = time.perf_counter(), 0.0
        for batch in micro:
            with torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext():
                loss_sum = _loss_sum(model, batch)
            (loss_sum / targets).backward()
            total += loss_sum.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step > 0:
            seconds += time.perf_counter() - started
            fed += sum(m.n_input_tokens for m in micro)
        loss = total / targets
    return fed / seconds, loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="timed optimizer steps per variant (after one warm-up)")
    args = parser.parse_args()
    recipe = load_recipe("smollm2-135m")
    with tempfile.TemporaryDirectory() as work:
        train, _, system = offline_conversations("travel", 120, Path(work))
    _, tokenizer = load_base(recipe.model, corpus=[], seed=recipe.seed)
    examples = tokenize_conversations(tokenizer, train, system, recipe.max_seq_len)
    autocast = recipe.cpu_autocast == "bf16"
    print(f"smollm2-135m, {args.steps} steps of 8 travel conversations, bf16 autocast {'on' if autocast else 'off'}, "
          f"torch threads {torch.get_num_threads()}")
    rows = [(label, *run_variant(per_micro, fused, examples, args.steps, autocast))
            for label, per_micro, fused in VARIANTS]
    print(f"{'layout':<40} {'input tok/s':>11} {'speed-up':>9} {'last loss':>10}")
    for label, rate, loss in rows:
        print(f"{label:<40} {rate:>11.1f} {rate / rows[0][1]:>8.2f}x {loss:>10.4f}")


if __name__ == "__main__":
    main()
