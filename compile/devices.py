"""What a recipe needs of the machine, checked before a run starts rather than deep inside it."""

from __future__ import annotations

import importlib.util

from compile.recipe import Recipe

__all__ = ["missing_device"]


def missing_device(recipe: Recipe) -> str | None:
    """'8 CUDA GPUs (…); this machine has 0', or None when the machine can train `recipe`."""
    if recipe.deepspeed is not None and importlib.util.find_spec("deepspeed") is None:
        return ("DeepSpeed, which is not installed "
                "(DS_BUILD_OPS=0 pip install --no-build-isolation deepspeed==0.19.8)")
    if recipe.device != "cuda":
        return None
    import torch

    have = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if have >= recipe.processes:          # one GPU per process on this machine
        return None
    plural = "s" if recipe.processes > 1 else ""
    return (f"{recipe.processes} CUDA GPU{plural} (recipe device: cuda, processes: {recipe.processes}); "
            f"this machine has {have}")
