from __future__ import annotations

import jsonschema
import pytest
import yaml

from harness.procedure.schema import procedure_schema
from harness.scenarios import scenario_set_schema


def test_valid_procedure_matches_schema(mini_path) -> None:
    jsonschema.validate(yaml.safe_load(mini_path.read_text()), procedure_schema())


def test_schema_rejects_unknown_keys(mini_path) -> None:
    data = yaml.safe_load(mini_path.read_text())
    data["nodes"]["greet"]["promt"] = "typo"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, procedure_schema())


def test_scenario_schema_accepts_documented_format() -> None:
    data = {"procedure": "x", "variables": {"city": ["Paris"], "days": {"range": [3, 14]},
                                           "budget": {"range": [500, 5000], "step": 100}},
            "persona": {"style": ["vague"]}}
    jsonschema.validate(data, scenario_set_schema())
