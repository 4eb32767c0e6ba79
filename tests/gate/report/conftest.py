"""Synthetic evaluated conversations with known numbers, for the report tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gate.result_store import ConversationResult
from harness.judges.llm_judge import JudgeResult
from harness.judges.rubric import CRITERIA, Scores
from harness.judges.trace import TraceVerdict
from harness.llm.base import Usage
from harness.procedure import Procedure, load_procedure, to_digraph
from harness.transcript import Transcript, Turn
from tests.conftest import PROCEDURE_DATA

MINI = PROCEDURE_DATA / "valid.yaml"
ON_CHART = ["greet", "request", "offer", "decide", "booked"]
SKIPPING = ["greet", "offer", "decide", "booked"]          # greet -> offer has no edge
# Task success per scenario; the other criteria are task success shifted, clipped to 1..5.
REF_TASK = [5, 4, 5, 5, 4, 5, 3, 5, 4, 5]
OTHER_TASK = [3, 4, 2, 3, 4, 3, 2, 4, 3, 3]


def verdict_for(procedure: Procedure, nodes: list[str]) -> TraceVerdict:
    """A verdict computed the way the trace judge computes it, for a given decoded walk."""
    g = to_digraph(procedure)
    visits: dict[str, int] = {}
    passes: dict[str, int] = {}
    edges: dict[str, int] = {}
    off = []
    for i, n in enumerate(nodes):
        visits[n] = visits.get(n, 0) + 1
        ok = n == procedure.start if i == 0 else g.has_edge(nodes[i - 1], n)
        if ok:
            passes[n] = passes.get(n, 0) + 1
            if i:
                edges[f"{nodes[i - 1]}->{n}"] = edges.get(f"{nodes[i - 1]}->{n}", 0) + 1
        else:
            off.append((i, nodes[i - 1] if i else "(start)", n))
    terminal = nodes[-1] if nodes[-1] in procedure.terminals() else None
    return TraceVerdict(nodes=nodes, confidence=[0.9] * len(nodes), valid=not off, off_chart_steps=off,
                        skipped_nodes=["request"] if off else [], terminal=terminal,
                        terminal_kind="success" if terminal == "booked" else None, expected_terminal="booked",
                        terminal_fits=terminal == "booked", repeated_questions=[], node_visits=visits,
                        node_passes=passes, edge_visits=edges)


def scores_from(task: int, shift: int = 0) -> Scores:
    return Scores(**{c: max(1, min(5, task + (shift if k else 0))) for k, c in enumerate(CRITERIA)})


def make_result(procedure: Procedure, condition: str, index: int, task: int, *, nodes: list[str],
                judge: str = "claude-sonnet-4-5", agent_model: str = "claude-sonnet-4-5",
                user_model: str = "claude-haiku-4-5", second_judge: str | None = None,
                text: str | None = None, wall_clock_s: float = 1.5) -> ConversationResult:
    speakers = ["agent" if procedure.nodes[n].role.value == "agent" else "user" for n in nodes]
    turns = [Turn(speaker=s, text=text if (text and i == 1) else f"{n} turn {i} of scenario {index}?")
             for i, (s, n) in enumerate(zip(speakers, nodes, strict=True))]
    transcript = Transcript(
        procedure=procedure.name, condition=condition, scenario_index=index, turns=turns,
        end_reason="terminal", terminal=nodes[-1],
        agent_usage=Usage(input_tokens=1000 * (index + 1), output_tokens=100, calls=3),
        routing_usage=Usage(input_tokens=200, output_tokens=10, calls=3) if condition == "orchestrated" else Usage(),
        user_usage=Usage(input_tokens=500, output_tokens=50, calls=2),
        wall_clock_s=wall_clock_s, agent_model=agent_model, user_model=user_model)
    judges = [JudgeResult(judge=judge, scores=scores_from(task))]
    if second_judge:
        judges.append(JudgeResult(judge=second_judge, scores=scores_from(task, shift=-1)))
    return ConversationResult(transcript=transcript, verdict=verdict_for(procedure, nodes), judges=judges,
                              offline_scores={"task_success": 5 if nodes == ON_CHART else 3})


@pytest.fixture
def procedure() -> Procedure:
    return load_procedure(MINI)


@pytest.fixture
def make_results(procedure: Procedure) -> Callable[..., dict[str, list[ConversationResult]]]:
    """Factory: results for "subterranean" (reference, higher scores) and "orchestrated"."""
    def make(*, offline: bool = False, second_judge: str | None = None, text: str | None = None,
             wall_clock_s: float = 1.5) -> dict[str, list[ConversationResult]]:
        judge = "offline" if offline else "claude-sonnet-4-5"
        agent = "offline" if offline else "claude-sonnet-4-5"
        user = "offline" if offline else "claude-haiku-4-5"
        common = {"judge": judge, "agent_model": agent, "user_model": user, "second_judge": second_judge,
                  "wall_clock_s": wall_clock_s}
        ref = [make_result(procedure, "subterranean", i, t, nodes=ON_CHART, text=text, **common)
               for i, t in enumerate(REF_TASK)]
        other = [make_result(procedure, "orchestrated", i, t, nodes=SKIPPING if i % 2 else ON_CHART, **common)
                 for i, t in enumerate(OTHER_TASK)]
        return {"orchestrated": other, "subterranean": ref}
    return make
