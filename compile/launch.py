"""Run the trainer under a recipe's launcher: in this process, or N processes on N GPUs.

    argv = build_launch_command(recipe, data_dir=..., system_prompt=..., out_dir=...)
    # accelerate launch --num_processes 8 ... -m compile.train --recipe out/recipe.json ...
    result = launch(recipe, data_dir, system_prompt, out_dir)   # runs it, returns the TrainResult

The recipe travels to the processes as a JSON file in `out_dir`, so what runs is exactly the
recipe object the caller holds (overrides included). DeepSpeed is configured from the recipe
inside `compile.train` (an accelerate `DeepSpeedPlugin`), so torchrun and accelerate launch
the same program; the accelerate flags below only make the command say what it does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from compile.recipe import Recipe
from compile.train import RESULT_FILE, TrainResult

__all__ = ["RECIPE_FILE", "build_launch_command", "launch"]

RECIPE_FILE = "recipe.json"


def build_launch_command(recipe: Recipe, *, data_dir: Path, system_prompt: str, out_dir: Path,
                         python: str = sys.executable) -> list[str]:
    """The argv that trains `recipe` on `data_dir` (train.jsonl, eval.jsonl) into `out_dir`."""
    program = ["-m", "compile.train", "--recipe", str(Path(out_dir) / RECIPE_FILE), "--data", str(data_dir),
               "--system-prompt", system_prompt, "--out", str(out_dir)]
    if recipe.launcher == "none":
        return [python, *program]
    if recipe.launcher == "torchrun":
        return [python, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                "--nproc_per_node", str(recipe.gpus), *program]
    mixed_precision = "bf16" if recipe.model.dtype == "bfloat16" and recipe.deepspeed else "no"
    argv = [python, "-m", "accelerate.commands.launch", "--num_processes", str(recipe.gpus), "--num_machines", "1",
            "--mixed_precision", mixed_precision, "--dynamo_backend", "no"]
    if recipe.deepspeed_path is not None:
        argv += ["--use_deepspeed", "--deepspeed_config_file", str(recipe.deepspeed_path), "--zero3_init_flag", "true"]
    elif recipe.gpus > 1:
        argv += ["--multi_gpu"]
    return argv + program


def launch(recipe: Recipe, data_dir: Path, system_prompt: str, out_dir: Path) -> TrainResult:
    """Train `recipe` in child process(es) and return the result they wrote."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RECIPE_FILE).write_text(recipe.model_dump_json(indent=2), encoding="utf-8")
    argv = build_launch_command(recipe, data_dir=data_dir, system_prompt=system_prompt, out_dir=out_dir)
    completed = subprocess.run(argv, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"training exited with status {completed.returncode}: {' '.join(argv)}")
    return TrainResult.model_validate_json((out_dir / RESULT_FILE).read_text(encoding="utf-8"))
