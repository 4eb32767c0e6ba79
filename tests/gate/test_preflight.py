"""The paper's suites validate here; without keys or a GPU the gate stops at once, naming them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gate.preflight import preflight
from gate.suite import load_suite
from tests.conftest import ROOT

PAPER = sorted((ROOT / "test_suites/paper").glob("*.gate.yaml"))


def test_the_paper_suites_are_the_papers_setup() -> None:
    assert [p.stem for p in PAPER] == ["insurance.gate", "travel.gate", "zoom.gate"]
    for path in PAPER:
        suite = load_suite(path)
        assert not suite.offline and suite.procedures[0].n == 200
        assert (suite.models.generator, suite.models.user, suite.models.frontier) == ("anthropic:claude-sonnet-4-5",) * 3
        assert suite.models.judges == ["anthropic:claude-sonnet-4-5", "openai:gpt-4.1"]
        assert suite.compile.recipe == ("qwen2.5-3b" if "travel" in path.name else "qwen3-8b")
        assert suite.thresholds.means and suite.thresholds.failure_rates and suite.thresholds.non_inferiority


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.stem)
def test_without_keys_or_gpu_every_missing_thing_is_named(path) -> None:
    text = "\n".join(preflight(load_suite(path)))
    assert "ANTHROPIC_API_KEY is not set, which anthropic:claude-sonnet-4-5 needs (models: generator, user, frontier" in text
    assert "OPENAI_API_KEY is not set, which openai:gpt-4.1 needs (models: judges[1])" in text
    gpus = 1 if "travel" in path.name else 8
    assert f"trains on {gpus} CUDA GPU" in text and "this machine has 0" in text


def test_with_keys_only_the_device_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-oai")
    (line,) = preflight(load_suite(ROOT / "test_suites/paper/zoom.gate.yaml"))
    assert line.endswith("compile recipe qwen3-8b trains on 8 CUDA GPUs (recipe device: cuda, processes: 8); this machine has 0")


def test_the_offline_suite_has_nothing_missing() -> None:
    assert preflight(load_suite(ROOT / "test_suites/travel.gate.yaml")) == []


@pytest.mark.slow
def test_the_gate_stops_before_running_anything(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")}
    done = subprocess.run([sys.executable, "-m", "subterra.cli", "gate", str(ROOT / "test_suites/paper/travel.gate.yaml")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stdout[-2000:]
    out = done.stdout + done.stderr
    assert "cannot run the gate here" in out and "ANTHROPIC_API_KEY is not set" in out and "CUDA GPU" in out
    assert "compiling" not in out and not (tmp_path / ".subterra").exists()
