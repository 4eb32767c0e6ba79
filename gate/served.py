"""Gating a served model (a suite's `served:` entry): which system prompt it gets, and
whether the served export is the model the suite compiles."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from harness.procedure import Procedure

if TYPE_CHECKING:
    from compile.pipeline import CompiledModel
    from gate.run import ProcedureRun
    from gate.suite import ServedModel

__all__ = ["ServedModelMismatch", "served_procedure"]


class ServedModelMismatch(ValueError):
    """The served export is not the model this suite compiles."""


def served_procedure(proc: ProcedureRun, compiled: CompiledModel, served: ServedModel) -> Procedure:
    """The procedure as the served model was trained on it: with the export's system prompt
    when the suite names the export (after checking it is this suite's compiled model)."""
    from compile.export import EXPORT_INFO, SYSTEM_PROMPT_FILE

    if served.export is None:
        return proc.procedure
    folder = proc.suite.resolve(served.export)
    try:
        info = json.loads((folder / EXPORT_INFO).read_text(encoding="utf-8"))
        system_prompt = (folder / SYSTEM_PROMPT_FILE).read_text(encoding="utf-8")
    except OSError as e:
        raise ServedModelMismatch(f"{proc.key}: served.export {folder} is not a `subterra export` folder "
                                  f"({e.strerror}: {e.filename})") from None
    if info["model_fingerprint"] != compiled.model_fingerprint:
        raise ServedModelMismatch(
            f"{proc.key}: the served export {folder} holds model {info['model_fingerprint'][:12]}, but this "
            f"suite compiles {compiled.model_fingerprint[:12]}; export and serve the current model "
            f"(`subterra export {proc.entry.procedure} --recipe {compiled.recipe} --out {served.export}`)")
    return proc.procedure.model_copy(update={"system_prompt": system_prompt})
