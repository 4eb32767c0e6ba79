"""The smollm2-135m recipe's step layout, before and after, through the real trainer in one run:
eight micro-batches of one conversation (gradient accumulation, before) vs the step's eight
conversations packed into one row (attention within each, compile.packed_attention: after).

Each variant is `compile.train.train` on the same travel conversations (generated offline) from
the same base weights, for the same optimizer steps and schedule; only `per_device_batch` and
`grad_accum` differ (8 conversations per step either way, the same loss). Printed per variant:
agent tokens/s over the optimizer steps (the trainer's own figure: evaluation and saves left
out), input tokens/s, its speed-up over the first row, and the eval loss after the steps (the
same data and gradient, so it should agree to a few decimals).

    .venv/bin/python benchmarks/train_layout.py              # ~4 min on 2 cores
    .venv/bin/python benchmarks/train_layout.py --steps 2
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")     # before torch is imported (see Makefile)

import argparse  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from train_throughput import offline_conversations  # noqa: E402

from compile.recipe import load_recipe  # noqa: E402
from compile.train import train  # noqa: E402

LAYOUTS = [("8 micro-batches of 1 conversation", 1, 8), ("1 packed row of 8 conversations", 8, 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps per layout")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        train_convs, eval_convs, system = offline_conversations("travel", 120, Path(work))
        eval_convs = eval_convs[:8]
        for label, per_device_batch, grad_accum in LAYOUTS:
            recipe = load_recipe("smollm2-135m", {
                "per_device_batch": per_device_batch, "grad_accum": grad_accum, "max_steps": args.steps,
                "eval_every_steps": None, "early_stopping_patience": None})
            result = train(recipe, train_convs, eval_convs, system_prompt=system, out_dir=Path(work) / label,
                           show_progress=False)
            input_rate = result.tokens_per_second * result.input_tokens / result.train_tokens
            rows.append((label, result.tokens_per_second, input_rate, result.best_eval_loss))
    print(f"smollm2-135m, {args.steps} optimizer steps of 8 travel conversations, autocast {recipe.cpu_autocast}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'layout':<36} {'agent tok/s':>11} {'input tok/s':>11} {'speed-up':>9} {'eval loss':>10}")
    for label, rate, input_rate, loss in rows:
        print(f"{label:<36} {rate:>11.1f} {input_rate:>11.1f} {rate / rows[0][1]:>8.2f}x {loss:>10.4f}")


if __name__ == "__main__":
    main()
