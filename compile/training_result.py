"""What a fine-tuning run reports (`training.json` beside the checkpoint): read by the compile
pipeline, the CLI and the export without importing torch."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

__all__ = ["EvalPoint", "TrainResult"]


class EvalPoint(BaseModel):
    step: int
    epoch: float
    eval_loss: float                     # mean next-token loss on held-out assistant tokens
    train_loss: float | None = None      # mean assistant-token loss of the steps since the last eval


class TrainResult(BaseModel):
    recipe: str
    checkpoint: Path                     # out_dir/best
    best_eval_loss: float
    best_step: int
    initial_eval_loss: float             # the base model's, before any step
    curve: list[EvalPoint]
    steps: int
    epochs: float
    train_tokens: int                    # assistant tokens trained on: the useful tokens
    input_tokens: int                    # all tokens fed forward (there is no padding when packed)
    seconds: float                       # wall time, summed over a killed run and its resumption
    tokens_per_second: float             # useful tokens per second of optimizer steps
    stopped_early: bool
    resumed_from_step: int | None
    parameters: int
    processes: int = 1                   # training processes, over all machines
