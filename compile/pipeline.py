"""The recompile cycle (paper §6): generate data → fine-tune → trace judge, each stage
content-addressed in the store so an unchanged input is never recomputed.

    compiled = compile_procedure(procedure, scenario_set, CompileSettings(recipe="tiny-cpu"))
    compiled.checkpoint      # a transformers checkpoint directory
    compiled.model_spec      # "local:<checkpoint>" for the LLM layer

A recipe of more than one process (e.g. `tiny-cpu-ddp`, `qwen3-8b`) trains through its launcher
(`compile.launch`: accelerate launch / torchrun) into the store's partial folder, so a killed
compile resumes from its last resume point like a one-process one.
"""

from __future__ import annotations

import asyncio
import time
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from compile.datagen import DatagenConfig, DatagenSummary, generate_dataset, load_split
from compile.launch import Rendezvous
from compile.recipe import Recipe
from compile.reuse import ConversationPool
from compile.settings import CompileSettings
from compile.store import Store, fingerprint
from compile.training_result import TrainResult
from harness import __version__
from harness.judges.trace import TraceJudge
from harness.llm import get_model
from harness.procedure import Procedure
from harness.scenarios import ScenarioSet


class StageTiming(BaseModel):
    stage: str
    seconds: float
    reused: bool


class CompiledModel(BaseModel):
    procedure: Procedure
    recipe: str
    dataset_fingerprint: str
    model_fingerprint: str
    dataset_dir: Path
    checkpoint: Path
    datagen: DatagenSummary
    training: TrainResult            # the trainer's summary (losses, steps, tokens, seconds)
    timings: list[StageTiming]

    @property
    def model_spec(self) -> str:
        return f"local:{self.checkpoint}"

    def info(self) -> dict[str, Any]:
        """What the report shows about the compile (no durations: those go to timings)."""
        t = self.training
        return {"recipe": self.recipe, "dataset": self.dataset_fingerprint[:12], "model": self.model_fingerprint[:12],
                "train_conversations": self.datagen.train, "eval_conversations": self.datagen.eval,
                "datagen_model": self.datagen.model, "steps": t.steps, "parameters": t.parameters,
                "initial_eval_loss": t.initial_eval_loss, "best_eval_loss": t.best_eval_loss}

    def cycle_seconds(self) -> dict[str, float]:
        """The recompile cycle's stages as they took when built (paper §6), reused or not."""
        return {"data generation": self.datagen.seconds, "fine-tuning": self.training.seconds}

    @cached_property
    def trace_judge(self) -> TraceJudge:
        # Fitted from the training split each time (well under a second): deterministic, and
        # nothing executable (a pickle) is kept in the store.
        return TraceJudge.fit(self.procedure, load_split(self.dataset_dir, "train"))


def procedure_content(procedure: Procedure) -> dict:
    return procedure.model_dump(mode="json")


def compile_procedure(procedure: Procedure, scenario_set: ScenarioSet, settings: CompileSettings,
                      store: Store | None = None, *, generator: str = "offline",
                      show_progress: bool | None = None, rendezvous: Rendezvous | None = None) -> CompiledModel:
    """Compile (or reuse) the model of `procedure`, its data written by the `generator`
    model; prints nothing but the launched ranks' log, returns timings. `rendezvous` places
    machine 0 of a multi-machine recipe (the others call `lend_processes`)."""
    from compile.launch import check_rendezvous, launch
    from compile.recipe import load_recipe

    store = store or Store()
    recipe = load_recipe(settings.recipe, settings.overrides)
    check_rendezvous(recipe, rendezvous)          # before generating anything
    timings: list[StageTiming] = []
    data_fp, dataset_dir = _dataset_stage(procedure, scenario_set, settings, store, generator, show_progress, timings)

    # Stage 2: full-parameter fine-tuning on the training split.
    model_fp = _model_fingerprint(data_fp, recipe, procedure)
    started = time.perf_counter()
    trained: list[bool] = []

    def build_model(out: Path) -> None:
        trained.append(True)
        if recipe.world_size > 1:    # child processes under the recipe's launcher; rank 0 writes the result
            result = launch(recipe, dataset_dir, procedure.system_prompt, out, rendezvous=rendezvous)
        else:
            from compile.train import train

            result = train(recipe, load_split(dataset_dir, "train"), load_split(dataset_dir, "eval"),
                           system_prompt=procedure.system_prompt, out_dir=out)
        # The store moves `out` into place when done: keep the checkpoint path relative to it.
        result = result.model_copy(update={"checkpoint": result.checkpoint.relative_to(out)})
        (out / "training.json").write_text(result.model_dump_json(indent=2))
        return result

    model_dir = store.get_or_create("model", model_fp, build_model)
    timings.append(StageTiming(stage="fine-tuning", seconds=time.perf_counter() - started, reused=not trained))

    training = TrainResult.model_validate_json((model_dir / "training.json").read_text())
    training = training.model_copy(update={"checkpoint": model_dir / training.checkpoint})
    return CompiledModel(
        procedure=procedure, recipe=settings.recipe, dataset_fingerprint=data_fp,
        model_fingerprint=model_fp, dataset_dir=dataset_dir, checkpoint=training.checkpoint,
        datagen=DatagenSummary.model_validate_json((dataset_dir / "summary.json").read_text()),
        training=training, timings=timings)


def _dataset_stage(procedure: Procedure, scenario_set: ScenarioSet, settings: CompileSettings, store: Store,
                   generator: str, show_progress: bool | None, timings: list[StageTiming]) -> tuple[str, Path]:
    """Stage 1: synthetic conversations, node-labelled (the trace judge learns from the labels)."""
    datagen_config = DatagenConfig(**settings.data_size())
    data_fp = _dataset_fingerprint(procedure, scenario_set, settings, generator)
    started = time.perf_counter()
    built: list[bool] = []

    def build_dataset(out: Path) -> None:
        built.append(True)
        model = get_model(generator)
        # Conversations an earlier compile generated from the same inputs come from the pool.
        summary = asyncio.run(generate_dataset(model, procedure, scenario_set, datagen_config, out,
                                               show_progress=show_progress, pool=ConversationPool(store.root)))
        (out / "summary.json").write_text(summary.model_dump_json(indent=2))

    dataset_dir = store.get_or_create("dataset", data_fp, build_dataset)
    timings.append(StageTiming(stage="data generation", seconds=time.perf_counter() - started, reused=not built))
    return data_fp, dataset_dir


def _dataset_fingerprint(procedure: Procedure, scenario_set: ScenarioSet, settings: CompileSettings,
                         generator: str) -> str:
    return fingerprint(kind="dataset", procedure=procedure_content(procedure),
                       scenarios=scenario_set.model_dump(mode="json"), generator=generator,
                       datagen=DatagenConfig(**settings.data_size()).model_dump(mode="json"), version=__version__)


def _model_fingerprint(data_fp: str, recipe: Recipe, procedure: Procedure) -> str:
    return fingerprint(kind="model", dataset=data_fp, recipe=recipe.model_dump(mode="json"),
                       system_prompt=procedure.system_prompt, version=__version__)


def machine_run_dir(store: Store, model_fp: str, machine_rank: int) -> Path:
    """Machine `machine_rank` (> 0)'s run folder: its ranks' logs; the model is machine 0's."""
    return store.root / "model" / ".machines" / f"{model_fp}-{machine_rank}"


def lend_processes(procedure: Procedure, scenario_set: ScenarioSet, settings: CompileSettings,
                   rendezvous: Rendezvous, store: Store | None = None, *, generator: str = "offline") -> Path:
    """Machine `rendezvous.machine_rank` (> 0) of a multi-machine recipe: the same data (built or
    reused here), then this machine's processes join machine 0's run. The checkpoint and result
    are machine 0's (ZeRO-3 gathers the weights there); returns this machine's run folder (logs)."""
    from compile.launch import check_rendezvous, launch
    from compile.recipe import load_recipe

    if rendezvous.machine_rank == 0:
        raise ValueError("machine 0 compiles (compile_procedure); lend_processes is for the other machines")
    store = store or Store()
    recipe = load_recipe(settings.recipe, settings.overrides)
    check_rendezvous(recipe, rendezvous)
    data_fp, dataset_dir = _dataset_stage(procedure, scenario_set, settings, store, generator, None, [])
    run_dir = machine_run_dir(store, _model_fingerprint(data_fp, recipe, procedure), rendezvous.machine_rank)
    launch(recipe, dataset_dir, procedure.system_prompt, run_dir, rendezvous=rendezvous)
    return run_dir


class CompilePlan(BaseModel):
    """Where a compile's artifacts are, or will be, before anything runs (`subterra compile --dry-run`)."""

    recipe: Recipe
    dataset_fingerprint: str
    dataset_dir: Path               # train.jsonl and eval.jsonl once generated
    dataset_exists: bool
    model_fingerprint: str
    model_exists: bool
    run_dir: Path                   # where training runs (the store's partial folder); resumes from there


def plan_compile(procedure: Procedure, scenario_set: ScenarioSet, settings: CompileSettings,
                 store: Store | None = None, *, generator: str = "offline") -> CompilePlan:
    """What `compile_procedure` would build, and where; computes fingerprints only."""
    from compile.recipe import load_recipe

    store = store or Store()
    recipe = load_recipe(settings.recipe, settings.overrides)
    data_fp = _dataset_fingerprint(procedure, scenario_set, settings, generator)
    model_fp = _model_fingerprint(data_fp, recipe, procedure)
    return CompilePlan(recipe=recipe, dataset_fingerprint=data_fp, dataset_dir=store.path("dataset", data_fp),
                       dataset_exists=store.exists("dataset", data_fp), model_fingerprint=model_fp,
                       model_exists=store.exists("model", model_fp), run_dir=store.partial_path("model", model_fp))
