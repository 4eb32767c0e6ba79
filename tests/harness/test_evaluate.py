"""What a gate run's results are keyed by: everything that determines them."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.evaluate import ProcedureRun
from harness.suite import load_suite
from tests.conftest import ROOT


def _fingerprint(repo: Path) -> str:
    suite = load_suite(repo / "edits.gate.yaml")
    return ProcedureRun(suite, suite.procedures[0], repo).fingerprint


def test_results_are_keyed_by_the_recipes_content_not_only_its_name(travel_repo: Path) -> None:
    recipe = travel_repo / "my-recipe.yaml"
    shutil.copy(ROOT / "compile/recipes/tiny-cpu.yaml", recipe)
    suite = travel_repo / "edits.gate.yaml"
    suite.write_text(suite.read_text().replace("recipe: tiny-cpu", f"recipe: {recipe}"))
    first = _fingerprint(travel_repo)
    assert _fingerprint(travel_repo) == first
    text = recipe.read_text()
    assert "\nlr: " in text
    recipe.write_text(text.replace("\nlr: ", "\nlr: 0.5 # was ", 1))
    assert _fingerprint(travel_repo) != first        # stale results of the old model are not reused


def test_results_are_keyed_by_the_procedure_text(travel_repo: Path) -> None:
    first = _fingerprint(travel_repo)
    path = travel_repo / "procedures/travel.yaml"
    path.write_text(path.read_text().replace("Confirm that the agent", "Confirm that the travel agent", 1))
    assert _fingerprint(travel_repo) != first
