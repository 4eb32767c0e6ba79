"""The recompile cycle (paper §6): generate data → fine-tune → trace judge, each stage
content-addressed in the store so an unchanged input is never recomputed.

    compiled = compile_procedure(procedure, scenario_set, CompileOptions(recipe="tiny-cpu"))
    compiled.checkpoint      # a transformers checkpoint directory
    compiled.model_spec      # "local:<checkpoint>" for the LLM layer
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from compile.datagen import DatagenConfig, DatagenSummary, generate_dataset, load_split
from compile.reuse import ConversationPool
from compile.store import STORE_ENV, Store, fingerprint
from harness import __version__
from harness.judges.trace import TraceJudge
from harness.llm import get_model
from harness.procedure import Procedure
from harness.scenarios import ScenarioSet


class CompileOptions(BaseModel):
    recipe: str = "smollm2-135m"
    recipe_overrides: dict[str, Any] = Field(default_factory=dict)   # e.g. {"epochs": 1}
    generator: str = "offline"
    n: int = Field(default=120, ge=2)                # training scenarios per seed
    seeds: list[int] = Field(default_factory=lambda: [42])
    eval_fraction: float = 0.1
    concurrency: int = 8


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
    training: dict                   # the trainer's summary (losses, steps, tokens, seconds)
    timings: list[StageTiming]

    @property
    def model_spec(self) -> str:
        return f"local:{self.checkpoint}"

    def info(self) -> dict[str, Any]:
        """What the report shows about the compile (no durations: those go to timings)."""
        t = self.training
        return {"recipe": self.recipe, "dataset": self.dataset_fingerprint[:12], "model": self.model_fingerprint[:12],
                "train_conversations": self.datagen.train, "eval_conversations": self.datagen.eval,
                "datagen_model": self.datagen.model, "steps": t.get("steps"), "parameters": t.get("parameters"),
                "initial_eval_loss": t.get("initial_eval_loss"), "best_eval_loss": t.get("best_eval_loss")}

    def cycle_seconds(self) -> dict[str, float]:
        """The recompile cycle's stages as they took when built (paper §6), reused or not."""
        return {"data generation": self.datagen.seconds, "fine-tuning": float(self.training.get("seconds", 0.0))}

    @cached_property
    def trace_judge(self) -> TraceJudge:
        # Fitted from the training split each time (well under a second): deterministic, and
        # nothing executable (a pickle) is kept in the store.
        return TraceJudge.fit(self.procedure, load_split(self.dataset_dir, "train"))


def procedure_content(procedure: Procedure) -> dict:
    return procedure.model_dump(mode="json")


def compile_procedure(procedure: Procedure, scenario_set: ScenarioSet, options: CompileOptions,
                      store: Store | None = None, *, show_progress: bool | None = None) -> CompiledModel:
    """Compile (or reuse) the model of `procedure`; prints nothing, returns timings."""
    from compile.recipe import load_recipe
    from compile.train import train

    store = store or Store()
    recipe = load_recipe(options.recipe, options.recipe_overrides)
    datagen_config = DatagenConfig(n=options.n, seeds=options.seeds, eval_fraction=options.eval_fraction,
                                   concurrency=options.concurrency)
    data_fp = fingerprint(kind="dataset", procedure=procedure_content(procedure),
                          scenarios=scenario_set.model_dump(mode="json"), generator=options.generator,
                          datagen=datagen_config.model_dump(mode="json"), version=__version__)
    timings: list[StageTiming] = []

    # Stage 1: synthetic conversations, node-labelled (the trace judge learns from the labels).
    started = time.perf_counter()
    built: list[bool] = []

    def build_dataset(out: Path) -> None:
        built.append(True)
        model = get_model(options.generator)
        # Conversations an earlier compile generated from the same inputs come from the pool.
        summary = asyncio.run(generate_dataset(model, procedure, scenario_set, datagen_config, out,
                                               show_progress=show_progress, pool=ConversationPool(store.root)))
        (out / "summary.json").write_text(summary.model_dump_json(indent=2))

    dataset_dir = store.get_or_create("dataset", data_fp, build_dataset)
    timings.append(StageTiming(stage="data generation", seconds=time.perf_counter() - started, reused=not built))

    # Stage 2: full-parameter fine-tuning on the training split.
    model_fp = fingerprint(kind="model", dataset=data_fp, recipe=recipe.model_dump(mode="json"),
                           system_prompt=procedure.system_prompt, version=__version__)
    started = time.perf_counter()
    trained: list[bool] = []

    def build_model(out: Path) -> None:
        trained.append(True)
        result = train(recipe, load_split(dataset_dir, "train"), load_split(dataset_dir, "eval"),
                       system_prompt=procedure.system_prompt, out_dir=out)
        # The store moves `out` into place when done: keep the checkpoint path relative to it.
        result = result.model_copy(update={"checkpoint": result.checkpoint.relative_to(out)})
        (out / "training.json").write_text(result.model_dump_json(indent=2))
        return result

    model_dir = store.get_or_create("model", model_fp, build_model)
    timings.append(StageTiming(stage="fine-tuning", seconds=time.perf_counter() - started, reused=not trained))

    training = json.loads((model_dir / "training.json").read_text())
    return CompiledModel(
        procedure=procedure, recipe=options.recipe, dataset_fingerprint=data_fp,
        model_fingerprint=model_fp, dataset_dir=dataset_dir, checkpoint=model_dir / training["checkpoint"],
        datagen=DatagenSummary.model_validate_json((dataset_dir / "summary.json").read_text()),
        training=training, timings=timings)


def compile_for_gate(proc_run) -> CompiledModel:
    """The `compiled_model` fixture's work: one procedure of a gate suite."""
    spec = proc_run.suite.compile
    options = CompileOptions(recipe=spec.recipe, recipe_overrides=spec.overrides,
                             generator=proc_run.suite.models.generator, n=spec.n,
                             seeds=spec.seeds, eval_fraction=spec.eval_fraction)
    # $SUBTERRA_STORE lets several checkouts (or CI jobs) share one store.
    root = os.environ.get(STORE_ENV) or proc_run.root / ".subterra" / "store"
    print(f"subterra: {proc_run.key}: compiling with {spec.recipe} (each stage reused from {root} if unchanged)",
          file=sys.stderr, flush=True)
    with _training_log_on_stderr():
        compiled = compile_procedure(proc_run.procedure, proc_run.scenario_set, options, Store(root))
    stages = ", ".join(f"{t.stage} {'reused' if t.reused else f'{t.seconds:.0f}s'}" for t in compiled.timings)
    d = compiled.datagen
    if not compiled.timings[0].reused:
        stages += f"; conversations: {d.reused} reused, {d.generated_now} generated"
    print(f"subterra: {proc_run.key}: compiled ({stages})", file=sys.stderr, flush=True)
    return compiled


@contextlib.contextmanager
def _training_log_on_stderr() -> Iterator[None]:
    """The trainer's eval lines (step, eval loss, tokens/s) on stderr while the gate compiles:
    a CI log without a progress bar still shows that minutes of training are moving."""
    logger = logging.getLogger("compile.train")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("subterra: train %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
