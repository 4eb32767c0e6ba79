"""The rehearsal, small: every API role a real model (SmolLM2 behind the local Anthropic and
OpenAI servers), then the same suite again from the recorded calls with the servers stopped,
in a fresh results folder. The two report.json files are identical, timings aside; nothing in
them is labelled offline.

Slow: the servers start, a shrunk tiny-cpu model trains on two generated conversations, and
every call decodes on the CPU.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gate.report.report_diff import first_difference
from harness.servers.vendor_apis import LocalAPIs
from tests.conftest import ROOT

pytest_plugins = ("pytester",)

SUITE = f"""
name: rehearsal-small
procedures:
  - {{procedure: {ROOT / 'procedures/travel.yaml'}, scenarios: {ROOT / 'scenarios/travel.yaml'}, n: 1, seed: 7}}
conditions: [subterranean, langgraph]
compile:
  recipe: tiny-cpu
  n: 2
  eval_fraction: 0.5
  overrides: {{model.scratch.hidden_size: 64, model.scratch.intermediate_size: 128, model.scratch.num_layers: 1,
              model.scratch.vocab_size: 512, epochs: 2}}
models:
  generator: anthropic:claude-sonnet-4-5
  user: openai:gpt-4.1
  frontier: anthropic:claude-sonnet-4-5
  judges: [anthropic:claude-sonnet-4-5, openai:gpt-4.1]
thresholds:
  per_conversation: {{conditions: []}}
"""


def _gate(pytester: pytest.Pytester, shared: Path, env: dict[str, str], *args: str):
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {**env, "SUBTERRA_STORE": str(shared / "store"),
                           "SUBTERRA_CACHE_DIR": str(shared / "cache")}.items():
            mp.setenv(key, value)
        return pytester.runpytest_subprocess("test_suites", "--import-mode=importlib", "-p", "no:xdist", *args,
                                             timeout=3000)


@pytest.mark.slow
@pytest.mark.rehearsal
def test_replaying_the_rehearsal_gives_the_same_report(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makefile(".gate.yaml", **{"test_suites/small": SUITE})
    shutil.copy(ROOT / "test_suites/test_gate.py", pytester.path / "test_suites/test_gate.py")
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    shared = tmp_path / "shared"
    with LocalAPIs("smollm2-135m", threads=2) as apis:
        env = apis.environment()
        recorded = _gate(pytester, shared, env)
    recorded.assert_outcomes(passed=2)
    first = json.loads((pytester.path / "reports/rehearsal-small/report.json").read_text())
    assert first["offline"] is False and "answered by local:smollm2-135m" in first["models"]["frontier"]
    handling = first["procedures"][0]["handling"]
    assert set(handling) == {"subterranean", "langgraph"}
    assert [j["judge"] for j in handling["langgraph"]["judges"]] == ["anthropic:claude-sonnet-4-5", "openai:gpt-4.1"]

    shutil.rmtree(pytester.path / ".subterra")          # results from nothing; the store and the calls stay
    shutil.rmtree(pytester.path / "reports")
    replayed = _gate(pytester, shared, env, "--gate-cache", "replay")   # the servers are stopped
    replayed.assert_outcomes(passed=2)
    second = json.loads((pytester.path / "reports/rehearsal-small/report.json").read_text())
    for data in (first, second):
        data.pop("timings")
    assert first_difference(first, second) is None
