"""Conversations a simulated-user fault spoiled run again when the suite says so, with fresh
seeds, and the spoiled attempt stays listed."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import gate.conversations as conversations
from harness.scenarios import Scenario
from harness.simulator_faults import SimulatorFault
from tests.gate.test_checks import result

FAULT = SimulatorFault(kind="ended_early", turn=None, detail="left after 1 of 3 steps")


def _spoiled(index: int, trial: int):
    r = result("c", index, 1)
    return r.model_copy(update={"transcript": r.transcript.model_copy(update={"trial": trial}),
                                "simulator_faults": [FAULT]})


def test_spoiled_conversations_run_again_with_fresh_seeds_and_list_what_they_replace(monkeypatch) -> None:
    asked: list[tuple[int, int]] = []

    async def run_transcripts(proc, compiled, condition, scenarios, **_):
        asked.extend((s.index, s.trial) for s in scenarios)
        return [result("c", s.index, 5).transcript.model_copy(update={"trial": s.trial}) for s in scenarios]

    async def judge_conversations(proc, compiled, transcripts, scenarios):
        return [result("c", t.scenario_index, 5).model_copy(update={"transcript": t}) for t in transcripts]

    monkeypatch.setattr(conversations, "run_transcripts", run_transcripts)
    monkeypatch.setattr(conversations, "judge_conversations", judge_conversations)
    scenarios = [Scenario(index=i, procedure="p", variables={}, persona={}, path=("greet",), seed=1).of_trial(t)
                 for i, t in ((0, 0), (0, 1), (1, 0))]
    before = [result("c", 0, 5), _spoiled(0, 1), result("c", 1, 4)]
    proc = SimpleNamespace(key="s:p", suite=SimpleNamespace(rerun_simulator_faults=2))
    after = asyncio.run(conversations._rerun_simulator_faults(proc, None, "c", scenarios, before))
    assert asked == [(0, 1 + conversations.RERUN_STRIDE)]          # only the spoiled one, freshly seeded
    assert after[0] is before[0] and after[2] is before[2]
    assert after[1].transcript.trial == 1 and after[1].simulator_faults == [] and after[1].rerun_after == [FAULT]
    assert after[1].score("task_success") == 5


def test_no_rerun_unless_the_suite_asks(monkeypatch) -> None:
    proc = SimpleNamespace(key="s:p", suite=SimpleNamespace(rerun_simulator_faults=0))
    before = [_spoiled(0, 0)]
    scenario = Scenario(index=0, procedure="p", variables={}, persona={}, path=("greet",), seed=1)
    assert asyncio.run(conversations._rerun_simulator_faults(proc, None, "c", [scenario], before)) == before
