"""The trace judge on chains of agent steps: one agent turn may carry out several steps; it
recovers every one of them, and per-node visits stay per node."""

from __future__ import annotations

import asyncio

import pytest

from compile.datagen import DatagenConfig, generate_dataset, load_split
from harness.judges.trace import TraceJudge
from harness.llm.offline import OfflineModel
from harness.procedure import load_procedure
from harness.scenarios import load_scenario_set
from harness.transcript import Conversation
from tests.conftest import SHAPE_NAMES, shape_files

# The fixtures of each shape, and two procedures written in a contact-centre style.
NAMES = (*SHAPE_NAMES, "card_dispute", "password_reset")


def node_accuracy(judge: TraceJudge, conversations: list[Conversation], *, chains_only: bool = False) -> float:
    """Share of agent steps whose decoded node equals the generator's label, step by step
    within a chain (a decoded chain of the wrong length counts its missing or extra steps
    as wrong). `chains_only` scores only turns that carry out a chain of steps."""
    right = total = 0
    for conv in conversations:
        decoded, _ = judge.decode_steps(conv.turns)
        for turn, got in zip(conv.turns, decoded, strict=True):
            want = turn.steps
            if turn.speaker != "agent" or (chains_only and len(want) < 2):
                continue
            total += max(len(want), len(got))
            right += sum(a == b for a, b in zip(want, got, strict=False))
    return right / total if total else 0.0


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    out = {}
    for name in NAMES:
        procedure_file, scenario_file = shape_files(name)
        proc, sset = load_procedure(procedure_file), load_scenario_set(scenario_file)
        folder = tmp_path_factory.mktemp(name)
        config = DatagenConfig(n=60, seeds=[1, 2], eval_fraction=0.25)
        asyncio.run(generate_dataset(OfflineModel(), proc, sset, config, folder, show_progress=False))
        train, held_out = load_split(folder, "train"), load_split(folder, "eval")
        out[name] = proc, TraceJudge.fit(proc, train), held_out
    return out


def test_chain_steps_of_held_out_conversations_are_recovered(fitted) -> None:
    right = total = 0
    for name in NAMES:
        _, judge, held_out = fitted[name]
        chain_steps = sum(len(t.steps) for c in held_out for t in c.turns if len(t.steps) > 1)
        assert chain_steps, name
        accuracy = node_accuracy(judge, held_out, chains_only=True)
        right += accuracy * chain_steps
        total += chain_steps
        assert accuracy >= 0.9, (name, accuracy)
    assert right / total >= 0.95


def test_a_chain_turn_counts_a_visit_and_a_pass_for_each_step(fitted) -> None:
    proc, judge, held_out = fitted["chain_loop"]
    conv = max(held_out, key=lambda c: len(c.turns))
    verdict = judge.judge(conv.turns, conv.path)
    assert verdict.valid and verdict.terminal_fits
    assert [s for steps in verdict.steps for s in steps] == conv.path
    assert verdict.nodes == [t.node for t in conv.turns]
    for node in set(conv.path):
        assert verdict.node_visits[node] == conv.path.count(node) == verdict.node_passes[node]
    assert verdict.edge_visits.get("send_link->instruct", 0) == conv.path.count("send_link")
    # A loop through a chain repeats its words by design: not a repeated question.
    assert verdict.repeated_questions == []


def test_a_customer_opened_chat_decodes_from_a_customer_turn(fitted) -> None:
    proc, judge, held_out = fitted["customer_opens"]
    for conv in held_out:
        verdict = judge.judge(conv.turns, conv.path)
        assert verdict.valid and verdict.steps[0] == ["ask_status"]
        assert verdict.steps[1] == ["lookup", "anything_else"]


def test_an_agent_turn_that_stops_short_of_its_decision_is_off_chart(fitted) -> None:
    proc, judge, held_out = fitted["agent_hub"]
    conv = next(c for c in held_out if c.path[-1] == "escalate")
    # The agent stops after acknowledging (no escalation) and the customer speaks again.
    turns = [*conv.turns[:-1], conv.turns[-1].model_copy(update={"text": "I'm sorry about the charge."}),
             conv.turns[1]]
    verdict = judge.judge(turns, conv.path)
    assert not verdict.terminal_fits
