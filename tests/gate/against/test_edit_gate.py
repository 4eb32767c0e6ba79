"""`--gate-against REF` end to end, offline, in a scratch git repository: a baseline gate at
HEAD, then a harmless rewording passes every regression check and a harmful edit (the
agent stops recapping the booking before confirming it) fails one, in the issue's words.

Each gate runs pytest in a subprocess (tiny-cpu recipe shrunk, offline models, 6 scenarios
plus those through the edit); the compile store is shared, so the baseline's model is
compiled once and the edits' data generation reuses the conversations they do not touch.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytest_plugins = ("pytester",)

SUITE = """
name: edit
procedures:
  - {procedure: ../procedures/travel.yaml, scenarios: ../scenarios/travel.yaml, n: 6, seed: 3}
conditions: [subterranean, orchestrated]
compile:
  recipe: tiny-cpu
  n: 24
  overrides: {"model.scratch.hidden_size": 64, "model.scratch.intermediate_size": 128,
              "model.scratch.num_layers": 1, "model.scratch.vocab_size": 512, "epochs": 4}
models: {generator: offline, user: offline, frontier: offline, base: offline, judges: [offline]}
thresholds:
  per_conversation: {conditions: []}
regression: {margin: -0.25, criteria: [task_success, information_accuracy], k: 2}
"""

SUMMARY = re.compile(r"  summarize_booking:\n.*?(?=    next:)", re.S)           # the node up to its edges
SUMMARY_PROMPT = re.compile(r"  summarize_booking:\n.*?(?=    examples:)", re.S)  # ... up to its examples
REWORDED = """  summarize_booking:
    role: agent
    title: Summarize and ask to confirm
    prompt: >-
      Recap the chosen option: destination, {{ days }} days in {{ travel_month }}, travellers
      ({{ group }}), what is included and the total price per person. Then ask whether to go
      ahead and confirm the booking.
"""
NO_RECAP = """  summarize_booking:
    role: agent
    title: Ask to confirm
    prompt: Ask whether you should confirm the booking. Do not repeat any details.
    examples:
      - Shall I confirm this booking for you?
      - Would you like me to go ahead and book it?
      - Everything look right before I confirm?
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(pytester: pytest.Pytester) -> Path:
    for rel in ("procedures/travel.yaml", "scenarios/travel.yaml", "test_suites/test_gate.py"):
        (pytester.path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, pytester.path / rel)
    (pytester.path / "test_suites/edit.gate.yaml").write_text(SUITE)
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    (pytester.path / ".gitignore").write_text(".subterra/\nreports/\nstore/\n")
    _git(pytester.path, "init", "-q")
    _git(pytester.path, "add", ".")
    _git(pytester.path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "baseline")
    return pytester.path


def _gate(pytester: pytest.Pytester, *args: str):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUBTERRA_STORE", str(pytester.path / "store"))
        return pytester.runpytest_subprocess("test_suites", "--import-mode=importlib", "-p", "no:xdist", *args,
                                             timeout=900)


def _edit(repo: Path, pattern: re.Pattern, replacement: str) -> None:
    path = repo / "procedures/travel.yaml"
    text = subprocess.run(["git", "-C", str(repo), "show", "HEAD:procedures/travel.yaml"], check=True,
                          capture_output=True, text=True).stdout
    assert pattern.search(text)
    path.write_text(pattern.sub(replacement, text, count=1))


def _changes(repo: Path) -> dict:
    (procedure,) = json.loads((repo / "reports/edit/report.json").read_text())["procedures"]
    return procedure["changes"]


@pytest.mark.slow
def test_a_harmless_rewording_passes_and_a_harmful_edit_fails_against_head(pytester: pytest.Pytester,
                                                                              repo: Path) -> None:
    baseline = _gate(pytester)
    assert baseline.ret == 0, baseline.stdout.str()[-3000:]
    assert _changes(repo) is None

    _edit(repo, SUMMARY_PROMPT, REWORDED)
    harmless = _gate(pytester, "--gate-against", "HEAD")
    out = harmless.stdout.str()
    assert harmless.ret == 0, out[-3000:]
    changes = _changes(repo)
    assert [c["node"] for c in changes["diff"]["nodes_changed"]] == ["summarize_booking"]
    assert len(changes["criteria"]) == 4 and {c["verdict"] for c in changes["criteria"]} <= {"non-inferior",
                                                                                              "improved"}
    through = [n for n in changes["nodes"] if n["node"] == "summarize_booking"]
    assert all(n["status"] == "changed" and n["visits_after"] >= 2 for n in through)   # k = 2 through it
    assert "Changes since HEAD" in (repo / "reports/edit/index.html").read_text()
    assert "of the version at HEAD" not in harmless.stderr.str()     # HEAD's results came from the store
    assert "| orchestrated | task_success |" in (repo / "reports/edit/changes.md").read_text()

    shutil.rmtree(repo / ".subterra/runs")          # no results of HEAD now: its version runs again

    _edit(repo, SUMMARY, NO_RECAP)
    harmful = _gate(pytester, "--gate-against", "HEAD")
    out = harmful.stdout.str()
    assert harmful.ret == 1
    message = re.search(r"(\w+) information_accuracy regressed after the edit: (\d\.\d\d) → (\d\.\d\d), "
                        r"Δ −\d\.\d\d, 95 % CI \[[−+]?\d\.\d\d, [−+]?\d\.\d\d\] over (\d+) paired scenarios; "
                        r"margin −0\.25", out)
    assert message, out[-3000:]
    assert float(message[3]) < float(message[2]) and int(message[4]) >= 6
    assert "running 6 conversations of the version at HEAD" in harmful.stderr.str()
    regressed = [c for c in _changes(repo)["criteria"] if c["verdict"] == "regressed"]
    assert regressed and all(c["low"] <= -0.25 for c in regressed)
