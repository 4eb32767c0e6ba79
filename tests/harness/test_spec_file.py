"""Spec files' pydantic errors as file:line lines: a misspelt optional key gets the nearest
key allowed where it stands, and a union's other arms add no noise beside the real error."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import SpecErrors
from harness.procedure import load_procedure
from harness.scenarios import load_scenario_set

DOMAIN = Path(__file__).resolve().parents[1] / "domains" / "taxi_booking"


def _errors(tmp_path: Path, name: str, old: str, new: str) -> list[str]:
    text = (DOMAIN / name).read_text()
    assert old in text, old
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    load = load_procedure if name == "procedure.yaml" else load_scenario_set
    with pytest.raises(SpecErrors) as info:
        load(path)
    return [str(e) for e in info.value.errors]


@pytest.mark.parametrize(("name", "old", "new", "expect"), [
    ("scenarios.yaml", "backend:", "bakend:", "unknown key 'bakend' (did you mean 'backend'?)"),
    ("scenarios.yaml", "      lookup: schedule", "      lookp: schedule", "unknown key 'lookp' (did you mean 'lookup'?)"),
    ("scenarios.yaml", "  passengers: {range: [1, 4]}", "  passengers: {rang: [1, 4]}",
     "unknown key 'rang' (did you mean 'range'?)"),
    ("procedure.yaml", "    tool: book_taxi", "    tools: book_taxi", "unknown key 'tools' (did you mean 'tool'?)"),
    ("scenarios.yaml", "      create: bookings", "      insert: bookings",
     "unknown key 'insert' (keys here: arrange, check, create, fields, lookup, match, python"),
])
def test_a_misspelt_optional_key_names_the_key_meant(tmp_path: Path, name: str, old: str, new: str,
                                                     expect: str) -> None:
    (message,) = _errors(tmp_path, name, old, new)
    assert expect in message and message.startswith(f"{tmp_path / name}:")


def test_a_misspelt_key_in_an_edge_is_one_error(tmp_path: Path) -> None:
    # `next` is a node id or a list of edges: the string arm's "should be a valid string" is noise.
    (message,) = _errors(tmp_path, "procedure.yaml", "{to: booked, result: confirmed}", "{to: booked, reslt: confirmed}")
    assert "node 'api_book': unknown key 'reslt' (did you mean 'result'?)" in message
