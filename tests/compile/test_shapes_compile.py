"""A tiny-cpu compile of a procedure drawn as teams draw them (the customer opens, agent
steps run on in one message, the agent decides on its own): the compiled model reaches a
terminal on held-out scenarios."""

from __future__ import annotations

import asyncio

import pytest

from compile.pipeline import compile_procedure
from compile.settings import CompileSettings
from compile.store import Store
from harness.conditions import build_condition
from harness.llm import get_model
from harness.procedure import load_procedure
from harness.runner import run_conversations
from harness.scenarios import load_scenario_set, sample_scenarios
from harness.simulator import UserSimulator
from tests.conftest import shape_files


@pytest.mark.slow
def test_compiled_model_of_chains_reaches_terminals_on_held_out_scenarios(tmp_path) -> None:
    procedure_file, scenario_file = shape_files("card_dispute")
    proc, sset = load_procedure(procedure_file), load_scenario_set(scenario_file)
    settings = CompileSettings(recipe="tiny-cpu", overrides={"epochs": 5}, n=40, seeds=[1])
    compiled = compile_procedure(proc, sset, settings, Store(tmp_path / "store"), show_progress=False)
    held_out = sample_scenarios(sset, proc, 9, seed=99)   # draws the model was not trained on
    model = get_model(compiled.model_spec)

    async def go():
        try:
            return await run_conversations(build_condition("subterranean", proc, model),
                                           UserSimulator(get_model("offline"), proc), held_out)
        finally:
            await model.aclose()

    transcripts = asyncio.run(go())
    assert all(t.turns[0].speaker == "user" for t in transcripts)     # the customer opened
    verdicts = [compiled.trace_judge.judge(t.turns, s.path) for t, s in zip(transcripts, held_out, strict=True)]
    reached = [v.terminal is not None for v in verdicts]
    assert sum(reached) >= 0.75 * len(reached), [(v.steps, v.terminal) for v in verdicts]
    # The chain of three agent steps is spoken in one message and recovered step by step.
    assert any(["welcome", "verify_intro", "ask_digits"] in v.steps for v in verdicts)
