from __future__ import annotations

import asyncio

import pytest

from compile.datagen import DatagenConfig, generate_dataset, load_split
from harness.judges.offline import offline_scores
from harness.judges.trace import TraceJudge
from harness.llm.offline import OfflineModel
from harness.procedure import load_procedure
from harness.scenarios import load_scenario_set
from harness.templates import render
from harness.transcript import Conversation, Turn
from tests.conftest import ROOT


def node_accuracy(judge: TraceJudge, conversations: list[Conversation]) -> float:
    """Share of agent turns whose decoded node equals the generator's label."""
    right = total = 0
    for conv in conversations:
        nodes, _ = judge.decode(conv.turns)
        for turn, node in zip(conv.turns, nodes, strict=True):
            if turn.speaker == "agent":
                total += 1
                right += node == turn.node
    return right / total if total else 0.0


@pytest.fixture(scope="module")
def travel(tmp_path_factory):
    proc = load_procedure(ROOT / "procedures/travel.yaml")
    sset = load_scenario_set(ROOT / "scenarios/travel.yaml")
    out = tmp_path_factory.mktemp("travel")
    config = DatagenConfig(n=80, seeds=[1, 2], eval_fraction=0.2)
    asyncio.run(generate_dataset(OfflineModel(), proc, sset, config, out, show_progress=False))
    train, held_out = load_split(out, "train"), load_split(out, "eval")
    return proc, TraceJudge.fit(proc, train), held_out


def test_recovers_the_true_node_of_held_out_agent_turns(travel) -> None:
    _, judge, held_out = travel
    assert len(held_out) >= 20
    assert node_accuracy(judge, held_out) >= 0.95


def test_faithful_conversation_is_valid_and_reaches_its_terminal(travel) -> None:
    _, judge, held_out = travel
    conv = held_out[0]
    verdict = judge.judge(conv.turns, conv.path)
    assert verdict.valid and verdict.terminal == conv.path[-1] and verdict.terminal_fits
    assert verdict.skipped_nodes == [] and verdict.repeated_questions == []


def _longest(held_out):
    return max(held_out, key=lambda c: len(c.turns))


def test_flags_a_skipped_node(travel) -> None:
    proc, judge, held_out = travel
    conv = _longest(held_out)
    # Drop one agent/user exchange whose removal leaves a jump the flowchart has no edge for.
    i = next(i for i in range(2, len(conv.turns) - 2, 2)
             if conv.turns[i + 2].node not in proc.successors(conv.turns[i - 1].node))
    turns = conv.turns[:i] + conv.turns[i + 2 :]
    verdict = judge.judge(turns, conv.path)
    assert not verdict.valid
    assert conv.turns[i].node in verdict.skipped_nodes


def test_flags_a_wrong_terminal(travel) -> None:
    proc, judge, held_out = travel
    conv = _longest(held_out)
    wrong = next(t for t in proc.terminals() if t != conv.path[-1] and proc.nodes[t].role.value == "agent")
    text = render(proc.nodes[wrong].examples[0], {**conv.variables, **conv.persona})
    turns = conv.turns[:-1] + [Turn(speaker="agent", text=text)]
    verdict = judge.judge(turns, conv.path)
    assert verdict.terminal == wrong and verdict.terminal_fits is False
    scores = offline_scores(verdict, turns, intended_path=conv.path, variables=conv.variables, challenge=True)
    faithful = judge.judge(conv.turns, conv.path)
    good = offline_scores(faithful, conv.turns, intended_path=conv.path, variables=conv.variables, challenge=True)
    assert scores["task_success"] < good["task_success"] == 5


def test_flags_a_repeated_question(travel) -> None:
    _, judge, held_out = travel
    conv = _longest(held_out)
    turns = conv.turns[:2] + [conv.turns[0], conv.turns[1]] + conv.turns[2:]
    verdict = judge.judge(turns, conv.path)
    assert 2 in verdict.repeated_questions
    scores = offline_scores(verdict, turns, intended_path=conv.path, variables=conv.variables, challenge=False)
    assert scores["consistency"] <= 4 and scores["graceful_handling"] <= 3


def test_fitting_is_deterministic(travel) -> None:
    proc, _, held_out = travel
    first, second = TraceJudge.fit(proc, held_out), TraceJudge.fit(proc, held_out)
    assert all(first.decode(c.turns) == second.decode(c.turns) for c in held_out[:5])


@pytest.mark.parametrize("said", ["", "   ", "zxq vvk plorb wemt", "\u2581\u2581 </s> <unk>"])
def test_agent_turns_that_say_nothing_of_the_procedure_are_unrecognised(travel, said: str) -> None:
    # The customer's side alone would place every agent turn (the previous turn is context):
    # an agent that says nothing must not pass for one that follows the procedure.
    _, judge, held_out = travel
    conv = held_out[0]
    turns = [Turn(speaker="agent", text=said) if t.speaker == "agent" else t for t in conv.turns]
    verdict = judge.judge(turns, conv.path)
    agents = [i for i, t in enumerate(turns) if t.speaker == "agent"]
    assert verdict.unrecognised_turns == agents and not verdict.valid
    scores = offline_scores(verdict, turns, intended_path=conv.path, variables=conv.variables, challenge=False)
    assert scores["task_success"] == 1


def test_held_out_agent_turns_are_all_recognised(travel) -> None:
    _, judge, held_out = travel
    assert all(judge.judge(c.turns, c.path).unrecognised_turns == [] for c in held_out)


def test_one_unrecognised_turn_is_a_slip(travel) -> None:
    _, judge, held_out = travel
    conv = _longest(held_out)
    i = next(i for i, t in enumerate(conv.turns) if t.speaker == "agent" and i > 0)
    turns = conv.turns[:i] + [Turn(speaker="agent", text="")] + conv.turns[i + 1 :]
    verdict = judge.judge(turns, conv.path)
    assert verdict.unrecognised_turns == [i] and not verdict.valid
    scores = offline_scores(verdict, turns, intended_path=conv.path, variables=conv.variables, challenge=True)
    assert scores["task_success"] in (3, 4)
