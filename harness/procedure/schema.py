"""JSON Schema of the procedure file format (for editors and CI linting); the scenario-set
format's is `harness.scenarios.scenario_set_schema`."""

from __future__ import annotations

from typing import Any

from harness.procedure.spec import Procedure
from harness.spec_file import file_schema


def procedure_schema() -> dict[str, Any]:
    return file_schema(Procedure, "subterra procedure")
