"""A suite's `served:` entry: the subterranean condition talks to the endpoint, with the served
export's system prompt, and only when the export is the model the suite compiles."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from gate.conversations import run_transcripts
from gate.run import ProcedureRun
from gate.served import ServedModelMismatch
from gate.suite import load_suite
from harness.errors import SpecErrors
from tests.harness.llm.fake_servers import FakeLLMServer

FINGERPRINT = "f" * 64
SERVED_PROMPT = "You are the travel assistant the served model learnt."


def _export(folder: Path, fingerprint: str) -> Path:
    folder.mkdir()
    (folder / "subterra.json").write_text(json.dumps({"model_fingerprint": fingerprint}))
    (folder / "system_prompt.txt").write_text(SERVED_PROMPT)
    return folder


def _run(repo: Path, served: str) -> ProcedureRun:
    suite_file = repo / "edits.gate.yaml"
    text = suite_file.read_text().replace("seed: 3}", f"seed: 3, served: {served}}}")
    suite_file.write_text(text)
    suite = load_suite(suite_file)
    return ProcedureRun(suite, suite.procedures[0], repo / "state")


def test_the_endpoint_gets_the_exports_system_prompt(travel_repo: Path) -> None:
    _export(travel_repo / "export", FINGERPRINT)
    compiled = SimpleNamespace(model_spec="offline", model_fingerprint=FINGERPRINT, recipe="tiny-cpu")
    with FakeLLMServer("openai", api_key="EMPTY") as server:     # the key local servers get
        spec = f"openai-compatible:{server.base_url}:served-travel"
        proc = _run(travel_repo, f"{{model: '{spec}', export: export}}")
        transcripts = asyncio.run(run_transcripts(proc, compiled, "subterranean", proc.scenarios[:2]))
        bodies = [r.body for r in server.requests]
    assert bodies and all(b["messages"][0] == {"role": "system", "content": SERVED_PROMPT} for b in bodies)
    assert all(b["model"] == "served-travel" and b["temperature"] == 0 for b in bodies)
    assert [t.agent_model for t in transcripts] == [spec, spec]
    assert all(t.agent_usage.calls >= 1 for t in transcripts), [(t.end_reason, t.error, t.agent_usage) for t in transcripts]


def test_an_export_of_another_model_fails_the_gate(travel_repo: Path) -> None:
    _export(travel_repo / "export", "0" * 64)
    compiled = SimpleNamespace(model_spec="offline", model_fingerprint=FINGERPRINT, recipe="tiny-cpu")
    proc = _run(travel_repo, "{model: 'openai-compatible:http://127.0.0.1:9/v1:m', export: export}")
    with pytest.raises(ServedModelMismatch, match="holds model 000000000000, but this suite compiles ffffffffffff"):
        asyncio.run(run_transcripts(proc, compiled, "subterranean", proc.scenarios[:1]))


def test_a_served_model_must_be_an_endpoint(travel_repo: Path) -> None:
    with pytest.raises(SpecErrors, match=r"edits.gate.yaml:\d+: .*openai-compatible:URL:NAME"):
        _run(travel_repo, "{model: 'local:exports/travel'}")
