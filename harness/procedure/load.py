"""Read a procedure file into a validated `Procedure`."""

from __future__ import annotations

from pathlib import Path

from harness.errors import SpecErrors
from harness.procedure.spec import Procedure
from harness.procedure.validate import check_procedure
from harness.spec_file import load_spec


def load_procedure(path: str | Path, text: str | None = None) -> Procedure:
    """Load and validate; raises `SpecErrors` listing every problem, each with file:line."""
    procedure = load_spec(path, Procedure, "a procedure file (name, title, system_prompt, start, nodes)", text)
    errors = check_procedure(procedure, procedure.source)
    if errors:
        raise SpecErrors(errors)
    return procedure
