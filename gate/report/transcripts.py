"""The per-conversation parts of the report: each transcript as shown (turns with their
decoded nodes, scores, the trace verdict) and each condition's coverage of the flowchart
by the trace judge."""

from __future__ import annotations

import json

from gate.report.reliability import transcript_anchor
from gate.report.views import (
    EdgeTrace,
    JudgeView,
    NodeTrace,
    TraceCoverage,
    TranscriptView,
    TurnView,
    is_offline_model,
)
from gate.result_store import ConversationResult
from harness.procedure import Procedure
from harness.transcript import Turn


def trace_coverage(procedure: Procedure, condition: str, rs: list[ConversationResult]) -> TraceCoverage:
    n = len(rs)
    nodes = []
    for node in procedure.nodes:
        visits = sum(r.verdict.node_visits.get(node, 0) for r in rs)
        passes = sum(r.verdict.node_passes.get(node, 0) for r in rs)
        seen = sum(node in r.verdict.node_visits for r in rs)
        nodes.append(NodeTrace(node=node, visits=visits, passes=passes,
                               pass_rate=passes / visits if visits else None, coverage=seen / n))
    edges = []
    for src, dst, _ in procedure.edges():
        key = f"{src}->{dst}"
        took = [r for r in rs if r.verdict.edge_visits.get(key, 0)]
        edges.append(EdgeTrace(
            source=src, target=dst, traversals=sum(r.verdict.edge_visits.get(key, 0) for r in rs),
            conversations=len(took),
            pass_rate=sum(r.verdict.valid for r in took) / len(took) if took else None,
            coverage=len(took) / n))
    off: dict[str, int] = {}
    for r in rs:
        for _, frm, to in r.verdict.off_chart_steps:
            off[f"{frm}->{to}"] = off.get(f"{frm}->{to}", 0) + 1
    return TraceCoverage(condition=condition, conversations=n, nodes=nodes, edges=edges,
                         off_chart=dict(sorted(off.items())))


def transcript_view(r: ConversationResult) -> TranscriptView:
    t, v = r.transcript, r.verdict
    if len(v.steps) == len(t.turns):    # a chain of agent steps shows every step
        decoded = [" → ".join(steps) for steps in v.steps]
    else:
        decoded = v.nodes if len(v.nodes) == len(t.turns) else [turn.node for turn in t.turns]
    off_turns = {i for i, _, _ in v.off_chart_steps}
    known = len(v.nodes) == len(t.turns)
    return TranscriptView(
        condition=t.condition, scenario_index=t.scenario_index, trial=t.trial,
        anchor=transcript_anchor(t.procedure, t.condition, t.scenario_index, t.trial),
        simulator_faults=[f"{f.kind}: {f.detail}" for f in r.simulator_faults], end_reason=t.end_reason,
        terminal=t.terminal, error=t.error, agent_model=t.agent_model, user_model=t.user_model,
        turns=[TurnView(speaker=turn.speaker, text=_shown(turn), node=node,
                        on_chart=(i not in off_turns) if known else None)
               for i, (turn, node) in enumerate(zip(t.turns, decoded, strict=True))],
        scores=r.scores,
        judges=[JudgeView(judge=j.judge, model=j.model, offline=is_offline_model(j.model or j.judge),
                          scores=j.scores, failure=j.failure) for j in r.judges],
        offline_scores=dict(sorted(r.offline_scores.items())),
        trace_valid=v.valid, off_chart_steps=list(v.off_chart_steps), skipped_nodes=list(v.skipped_nodes),
        trace_terminal=v.terminal, expected_terminal=v.expected_terminal, terminal_fits=v.terminal_fits,
        repeated_questions=list(v.repeated_questions),
        agent_usage=t.agent_usage, routing_usage=t.routing_usage, user_usage=t.user_usage)


def _shown(turn: Turn) -> str:
    """A turn's words; an agent's tool call shows the tool and its arguments after them."""
    if turn.speaker == "agent" and turn.tool_call is not None:
        call = f"[calls {turn.tool_call.name}({json.dumps(turn.tool_call.arguments, ensure_ascii=False)})]"
        return f"{turn.text} {call}".strip()
    return turn.text
