"""Data generation through tool steps: the call carries the customer's values, the scenario's
backend answers, and the conversation goes on from the result along the path."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from compile.datagen import DatagenConfig, generate_conversation
from harness.llm import get_model
from harness.procedure import Role, load_procedure
from harness.scenarios import load_scenario_set, sample_scenarios

ROOT = Path(__file__).resolve().parents[2]


def test_tool_steps_are_written_from_the_customers_values_and_the_backend() -> None:
    proc = load_procedure(ROOT / "procedures" / "card_dispute.yaml")
    scenarios = sample_scenarios(load_scenario_set(ROOT / "scenarios" / "card_dispute.yaml"), proc, 12, 5)
    for scenario in scenarios:
        conv = asyncio.run(generate_conversation(get_model("offline"), proc, scenario, DatagenConfig(n=12)))
        calls = [t for t in conv.turns if t.speaker == "agent" and t.tool_call is not None]
        results = [t for t in conv.turns if t.speaker == "tool"]
        expected = scenario.backend.expected_calls
        assert [(c.node, c.tool_call.name, c.tool_call.arguments) for c in calls] == [
            (e["node"], e["tool"], e["arguments"]) for e in expected]
        assert [json.loads(r.text)["result"] for r in results] == [e["result"] for e in expected]
        # every argument value is one the customer said before the call
        for call in calls:
            said = " ".join(t.text for t in conv.turns[:conv.turns.index(call)] if t.speaker == "user")
            assert all(str(v) in said for v in call.tool_call.arguments.values()), (said, call.tool_call)
        tool_nodes = [n for n in scenario.path if proc.nodes[n].role is Role.TOOL]
        assert len(calls) == len(tool_nodes)
        assert conv.turns[-1].node == scenario.path[-1]
