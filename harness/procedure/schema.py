"""JSON Schema of the procedure and scenario-set file formats (for editors and CI linting)."""

from __future__ import annotations

from typing import Any

from harness.procedure.spec import Procedure


def procedure_schema() -> dict[str, Any]:
    schema = Procedure.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "subterra procedure"
    return schema


def scenario_set_schema() -> dict[str, Any]:
    from harness.scenarios import ScenarioSet  # scenarios imports procedure; avoid a cycle

    schema = ScenarioSet.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "subterra scenario set"
    return schema
