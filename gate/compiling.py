"""The `compiled_model` fixture's work: compile one procedure of a gate suite through the
store, with progress lines on stderr (the plugin lets them past pytest's capture)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from compile.pipeline import CompiledModel, compile_procedure
from compile.store import Store
from harness.files import store_root

if TYPE_CHECKING:
    from gate.run import ProcedureRun


def compile_for_gate(proc: ProcedureRun) -> CompiledModel:
    """Compile (or reuse from the store) the model of one procedure of a gate suite."""
    settings = proc.suite.compile
    root = store_root(proc.root)
    print(f"subterra: {proc.key}: compiling with {settings.recipe} (each stage reused from {root} if unchanged)",
          file=sys.stderr, flush=True)
    with _training_log_on_stderr():
        compiled = compile_procedure(proc.procedure, proc.scenario_set, settings, Store(root),
                                     generator=proc.suite.models.generator)
    stages = ", ".join(f"{t.stage} {'reused' if t.reused else f'{t.seconds:.0f}s'}" for t in compiled.timings)
    d = compiled.datagen
    if not compiled.timings[0].reused:
        stages += f"; conversations: {d.reused} reused, {d.generated_now} generated"
    print(f"subterra: {proc.key}: compiled ({stages})", file=sys.stderr, flush=True)
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
