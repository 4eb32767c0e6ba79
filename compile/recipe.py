"""Training recipes: one typed config object per way of compiling a model.

A recipe is a YAML file in `compile/recipes/` (or anywhere, by path):

    recipe = load_recipe("qwen3-8b")                       # compile/recipes/qwen3-8b.yaml
    recipe = load_recipe("tiny-cpu", {"epochs": 1})        # with overrides (dotted keys work)
    stand_in = recipe.dry_run()                            # same loop on CPU with a tiny model

Batch sizes count *conversations*, as in the paper (effective batch 16 / 32 conversations);
packing changes how a micro-batch is laid out (one padding-free row), not how many
conversations it holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from compile.tiny_model import TinyModelConfig
from harness.cpu import cpu_multiplies_bf16
from harness.errors import SpecError
from harness.spec_file import read_mapping, validate_spec
from harness.yaml_source import load_yaml

__all__ = ["RECIPES_DIR", "ModelSpec", "Recipe", "available_recipes", "load_recipe", "parse_overrides"]

RECIPES_DIR = Path(__file__).parent / "recipes"
SCRATCH = "scratch"


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # "scratch" (a tiny Llama + corpus tokenizer), the alias "smollm2-135m", a checkpoint
    # directory or .gguf file, or a Hugging Face hub id such as "Qwen/Qwen3-8B".
    source: str
    dtype: Literal["float32", "bfloat16"] = "float32"
    # sdpa packs sequences with a block-diagonal mask built from position_ids (any device);
    # flash_attention_2 does the same with varlen kernels on GPU if flash-attn is installed.
    attention: Literal["sdpa", "eager", "flash_attention_2"] = "sdpa"
    scratch: TinyModelConfig | None = None

    @model_validator(mode="after")
    def _scratch_sizes(self) -> ModelSpec:
        if self.source == SCRATCH and self.scratch is None:
            self.scratch = TinyModelConfig()
        if self.source != SCRATCH and self.scratch is not None:
            raise ValueError(f"model.scratch sizes apply only to source 'scratch', not {self.source!r}")
        return self


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    model: ModelSpec
    # Optimisation: full-parameter AdamW (8-bit states via bitsandbytes on CUDA), cosine decay.
    optimizer: Literal["adamw", "adamw_8bit"] = "adamw"
    lr: float = Field(gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: Literal["cosine"] = "cosine"
    warmup_ratio: float = Field(default=0.03, ge=0, lt=1)
    grad_clip: float | None = Field(default=1.0, gt=0)
    # Batches, in conversations: effective batch = per_device_batch × grad_accum × processes × machines.
    per_device_batch: int = Field(ge=1)
    grad_accum: int = Field(default=1, ge=1)
    max_seq_len: int = Field(ge=16)                    # longer conversations are truncated
    packing: bool = True                               # one padding-free row per micro-batch
    # How long: epochs (capped by max_steps), evaluating at every epoch end or every N steps,
    # keeping the best checkpoint by eval loss, stopping after `patience` evals without gain.
    epochs: int = Field(ge=1)
    max_steps: int | None = Field(default=None, ge=1)
    eval_every_steps: int | None = Field(default=None, ge=1)
    early_stopping_patience: int | None = Field(default=None, ge=1)
    save_every_steps: int | None = Field(default=None, ge=1)  # resume points between evals
    seed: int = 0
    # Where: this process (CPU or one GPU), or `processes` per machine (one per GPU on CUDA, CPU
    # processes over gloo on the CPU) on `machines` machines, started by accelerate / torchrun.
    # More than one process in all, and the compile trains through the launcher (compile.launch).
    device: Literal["auto", "cpu", "cuda"] = "auto"
    launcher: Literal["none", "accelerate", "torchrun"] = "none"
    processes: int = Field(default=1, ge=1)
    machines: int = Field(default=1, ge=1)
    deepspeed: str | None = None          # a DeepSpeed JSON, relative to compile/recipes/ or absolute
    # Training on a CPU: matmuls under bfloat16 autocast (weights, gradients and AdamW stay fp32).
    # Where the CPU multiplies bf16 natively (AVX512-BF16, AMX) a step takes ~0.7x the time;
    # elsewhere bf16 is emulated and slower, so "auto" picks bf16 only on such CPUs. "auto" is
    # resolved when the recipe loads, so the store's fingerprint names the precision used.
    cpu_autocast: Literal["off", "bf16", "auto"] = "off"

    @property
    def world_size(self) -> int:
        """Training processes in all, over every machine."""
        return self.processes * self.machines

    @property
    def effective_batch(self) -> int:
        return self.per_device_batch * self.grad_accum * self.world_size

    @property
    def deepspeed_path(self) -> Path | None:
        if self.deepspeed is None:
            return None
        path = Path(self.deepspeed)
        return path if path.is_absolute() else RECIPES_DIR / path

    def deepspeed_config(self) -> dict[str, Any] | None:
        path = self.deepspeed_path
        if path is None:
            return None
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise FileNotFoundError(f"recipe {self.name!r}: DeepSpeed config {path} cannot be read: {err}") from None
        if "zero_optimization" not in config:
            raise ValueError(f"recipe {self.name!r}: DeepSpeed config {path} has no 'zero_optimization' section")
        return config

    @model_validator(mode="after")
    def _resolve_cpu_autocast(self) -> Recipe:
        if self.cpu_autocast == "auto":
            self.cpu_autocast = "bf16" if cpu_multiplies_bf16() else "off"
        return self

    @model_validator(mode="after")
    def _consistent(self) -> Recipe:
        if self.launcher == "none" and self.world_size != 1:
            raise ValueError(f"processes={self.processes} x machines={self.machines} needs a launcher "
                             "(accelerate or torchrun), got launcher 'none'")
        if self.deepspeed is not None and self.launcher == "none":
            raise ValueError("a deepspeed config needs a launcher (accelerate or torchrun), got launcher 'none'")
        if self.deepspeed is not None and self.optimizer == "adamw_8bit":
            raise ValueError("adamw_8bit (bitsandbytes) is for one GPU; with DeepSpeed use optimizer 'adamw'")
        if self.world_size > 1 and self.device == "auto":
            # the launcher's environment (DS_ACCELERATOR, threads) and the backend (nccl or gloo)
            # follow the device, so a multi-process recipe names it
            raise ValueError(f"{self.world_size} processes need device 'cuda' or 'cpu', not 'auto'")
        if self.model.source == SCRATCH and self.model.scratch.max_position_embeddings < self.max_seq_len:
            raise ValueError(f"max_seq_len={self.max_seq_len} exceeds the scratch model's "
                             f"max_position_embeddings={self.model.scratch.max_position_embeddings}")
        return self

    def dry_run(self, *, steps: int = 2, stand_in: TinyModelConfig | None = None) -> Recipe:
        """This recipe's loop on the CPU in one process: a tiny scratch model stands in for the
        real one, CUDA-only parts (bf16, 8-bit AdamW, DeepSpeed, several processes) are turned off,
        and training stops after `steps` optimizer steps. Everything else is kept."""
        stand_in = stand_in or TinyModelConfig(vocab_size=320, hidden_size=32, intermediate_size=64,
                                               num_layers=1, num_heads=2, num_kv_heads=1)
        stand_in = stand_in.model_copy(update={"max_position_embeddings":
                                               max(stand_in.max_position_embeddings, self.max_seq_len)})
        return self.model_copy(update={
            "name": f"{self.name} (dry run)",
            "model": ModelSpec(source=SCRATCH, dtype="float32", attention="sdpa", scratch=stand_in),
            "optimizer": "adamw", "device": "cpu", "launcher": "none", "processes": 1, "machines": 1, "deepspeed": None,
            "max_steps": steps,
        })


def available_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def _recipe_file(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml", ".json"):
        return path            # read_mapping says what is wrong with it, if anything
    candidate = RECIPES_DIR / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise SpecError(
            f"unknown recipe {str(name_or_path)!r}: expected one of {available_recipes()} or a path to a .yaml file"
        )
    return candidate


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if rest:
            value = {rest: value}
        if isinstance(value, Mapping) and isinstance(merged.get(head), Mapping):
            merged[head] = _merge(dict(merged[head]), value)
        else:
            merged[head] = value
    return merged


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """`["lr=1e-4", "model.source=./ckpt"]` -> `{"lr": 1e-4, "model.source": "./ckpt"}` (values as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"a recipe override looks like key=value, got {item!r}")
        if value.strip() in ("", "~", "null"):
            out[key.strip()] = None
            continue
        try:      # the bounded loader: `--set lr=!!float x` is an error message, not a traceback
            out[key.strip()] = load_yaml(f"--set {key.strip()}", value)[0]
        except SpecError as e:
            raise ValueError(f"--set {key.strip()}: {e.message}") from None
    return out


def load_recipe(name_or_path: str | Path, overrides: Mapping[str, Any] | None = None) -> Recipe:
    """Load a recipe by name (compile/recipes/<name>.yaml) or path, applying `overrides`."""
    path = _recipe_file(name_or_path)
    data, source = read_mapping(path, "a recipe")
    data.setdefault("name", path.stem)
    return validate_spec(Recipe, _merge(data, overrides or {}), source)
