"""The gate as pytest runs it: serial and xdist agree, and a weak model fails readably.

Each test runs pytest in a subprocess on a small suite (tiny-cpu recipe shrunk further,
offline models, 4 scenarios). The compiled models are shared through one store
($SUBTERRA_STORE), so only the first run of each recipe trains.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytest_plugins = ("pytester",)

SHRUNK = {"model.scratch.hidden_size": 64, "model.scratch.intermediate_size": 128,
          "model.scratch.num_layers": 1, "model.scratch.vocab_size": 512, "epochs": 4}


def _suite(overrides: dict, thresholds: str) -> str:
    return f"""
name: small
procedures:
  - procedure: {ROOT / 'procedures/travel.yaml'}
    scenarios: {ROOT / 'scenarios/travel.yaml'}
    n: 4
    seed: 3
conditions: [subterranean, orchestrated, langgraph, in_context]
compile:
  recipe: tiny-cpu
  n: 24
  overrides: {json.dumps(overrides)}
models: {{generator: offline, user: offline, frontier: offline, base: offline, judges: [offline]}}
thresholds:
{thresholds}
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("store")


def _gate(pytester: pytest.Pytester, store: Path, suite: str, *args: str):
    pytester.makefile(".gate.yaml", **{"test_suites/small": suite})
    shutil.copy(ROOT / "test_suites/test_gate.py", pytester.path / "test_suites/test_gate.py")
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUBTERRA_STORE", str(store))
        return pytester.runpytest_subprocess("test_suites", "--import-mode=importlib", *args, timeout=600)


def _report_data(pytester: pytest.Pytester) -> dict:
    data = json.loads((pytester.path / "reports/small/report.json").read_text())
    data.pop("timings")
    return data


# Bounds every run meets (the shrunk model is barely trained): this test is about the data, not the model.
THRESHOLDS = """  per_conversation: {conditions: [langgraph], terminal_reached: true, valid_trace: true}
  means:
    - {condition: subterranean, criterion: task_success, min_mean: 1.0}
  non_inferiority:
    - {a: subterranean, b: orchestrated, criterion: task_success, margin: -4.5}"""


@pytest.mark.slow
def test_serial_and_xdist_runs_give_identical_report_data(pytester: pytest.Pytester, store: Path,
                                                         tmp_path: Path) -> None:
    serial = _gate(pytester, store, _suite(SHRUNK, THRESHOLDS), "-p", "no:xdist")
    serial.assert_outcomes(passed=4 * 4 + 2)
    first = _report_data(pytester)
    assert first["offline"] is True and [p["conditions"] for p in first["procedures"]] == [
        ["subterranean", "in_context", "langgraph", "orchestrated"]]

    shutil.rmtree(pytester.path / ".subterra")        # results again from nothing; the store stays
    shutil.rmtree(pytester.path / "reports")
    parallel = _gate(pytester, store, _suite(SHRUNK, THRESHOLDS), "-n", "2")
    parallel.assert_outcomes(passed=4 * 4 + 2)
    assert _report_data(pytester) == first
    assert "subterra report:" in parallel.stdout.str()


@pytest.mark.slow
def test_a_model_trained_for_one_step_fails_the_gate_readably(pytester: pytest.Pytester, store: Path) -> None:
    weak = {**SHRUNK, "max_steps": 1}
    thresholds = """  per_conversation: {conditions: [subterranean], terminal_reached: true, valid_trace: true}
  means:
    - {condition: subterranean, criterion: task_success, min_mean: 3.5}"""
    result = _gate(pytester, store, _suite(weak, thresholds), "-p", "no:xdist")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 1
    out = result.stdout.str()
    assert "subterranean: mean task_success = " in out and "bound >= 3.5" in out
    assert "travel_booking/subterranean scenario" in out
    assert (pytester.path / "reports/small/index.html").exists()     # a failing gate still reports
