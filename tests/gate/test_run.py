"""What a gate run's results are keyed by: everything that determines them."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

import gate.conversations as conversations_module
from compile.datagen import DatagenConfig, generate_dataset, load_split
from gate.conversations import evaluate_condition, run_transcripts
from gate.result_store import STAGING
from gate.run import ProcedureRun
from gate.suite import load_suite
from harness.judges.trace import TraceJudge
from harness.llm.offline import OfflineModel
from harness.procedure import load_procedure
from harness.scenarios import load_scenario_set
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


@pytest.fixture(scope="module")
def offline_compiled(tmp_path_factory):
    """A stand-in for the compiled model: the trace judge learnt from offline travel data."""
    proc = load_procedure(ROOT / "procedures/travel.yaml")
    out = tmp_path_factory.mktemp("data")
    asyncio.run(generate_dataset(OfflineModel(), proc, load_scenario_set(ROOT / "scenarios/travel.yaml"),
                                 DatagenConfig(n=24, seeds=[1]), out, show_progress=False))
    return SimpleNamespace(model_spec="offline", model_fingerprint="0" * 64,
                           trace_judge=TraceJudge.fit(proc, load_split(out, "train")))


def _run(repo: Path, root: Path) -> ProcedureRun:
    suite = load_suite(repo / "edits.gate.yaml")
    return ProcedureRun(suite, suite.procedures[0], root)


def test_a_killed_run_resumes_without_having_finished_conversations_again(
        travel_repo: Path, tmp_path: Path, offline_compiled, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = evaluate_condition(_run(travel_repo, tmp_path / "a"), offline_compiled, "orchestrated")

    # The interrupted run: two conversations finished (and were staged) before the kill.
    killed = _run(travel_repo, tmp_path / "b")
    first = killed.scenarios[:2]
    asyncio.run(run_transcripts(killed, offline_compiled, "orchestrated", first, on_done=killed.results.stage))
    asked: list[int] = []
    real = conversations_module.run_conversations

    async def counting(condition, simulator, scenarios, **kw):
        asked.extend(s.index for s in scenarios)
        return await real(condition, simulator, scenarios, **kw)

    monkeypatch.setattr(conversations_module, "run_conversations", counting)
    resumed = evaluate_condition(_run(travel_repo, tmp_path / "b"), offline_compiled, "orchestrated")

    assert asked == [s.index for s in killed.scenarios[2:]]          # nothing finished ran again
    timeless = {"transcript": {"wall_clock_s"}}
    assert ([r.model_dump(exclude=timeless) for r in resumed]
            == [r.model_dump(exclude=timeless) for r in whole])     # and the results are one run's
    staging = killed.results.root / killed.procedure.name / "orchestrated" / STAGING
    assert not staging.exists()


def test_the_suites_turn_cap_ends_conversations_and_keys_the_results(travel_repo: Path, tmp_path: Path,
                                                                     offline_compiled) -> None:
    uncapped = _fingerprint(travel_repo)
    suite = travel_repo / "edits.gate.yaml"
    suite.write_text(suite.read_text().replace("seed: 3}", "seed: 3, max_turns: 4}"))
    assert _fingerprint(travel_repo) != uncapped       # results under another cap are not reused
    run = _run(travel_repo, tmp_path)
    transcripts = asyncio.run(run_transcripts(run, offline_compiled, "in_context", run.scenarios))
    assert all(len(t.turns) <= 4 for t in transcripts)
    assert {t.end_reason for t in transcripts} == {"turn_cap"}      # no travel path ends in 4 turns
