"""The `compiled_model` fixture's work: compile one procedure of a gate suite through the
store, with progress lines on stderr (the plugin lets them past pytest's capture)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from compile.pipeline import CompiledModel, compile_procedure
from compile.settings import CompileSettings
from compile.store import Store
from harness.files import store_root
from harness.procedure import Procedure
from harness.scenarios import ScenarioSet


def compile_for_gate(key: str, procedure: Procedure, scenario_set: ScenarioSet, settings: CompileSettings,
                     root: Path, *, generator: str) -> CompiledModel:
    """Compile (or reuse from the store under `root`) the model of one procedure of a gate
    suite; `key` names it in the progress lines."""
    store = store_root(root)
    print(f"subterra: {key}: compiling with {settings.recipe} (each stage reused from {store} if unchanged)",
          file=sys.stderr, flush=True)
    with _training_log_on_stderr():
        compiled = compile_procedure(procedure, scenario_set, settings, Store(store), generator=generator)
    stages = ", ".join(f"{t.stage} {'reused' if t.reused else f'{t.seconds:.0f}s'}" for t in compiled.timings)
    d = compiled.datagen
    if not compiled.timings[0].reused:
        stages += f"; conversations: {d.reused} reused, {d.generated_now} generated"
    print(f"subterra: {key}: compiled ({stages})", file=sys.stderr, flush=True)
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
