"""Mermaid and Graphviz DOT exports, coloured as in the paper's figures.

Agent turns blue, user turns orange, tool steps purple (labelled with the tool; their edges
with the result that takes them), success terminals green, abandonment and
escalation terminals red; decision hubs are drawn as diamonds. An edge from one agent step
to the next is drawn dotted: both steps are spoken in the same message (one turn).
"""

from __future__ import annotations

import json

from harness.procedure.spec import Procedure, Role, TerminalKind
from harness.procedure.turns import same_turn

COLOURS = {
    "agent": "#4a90d9",
    "user": "#f5a623",
    "tool": "#8e44ad",
    TerminalKind.SUCCESS: "#4caf50",
    TerminalKind.ABANDONED: "#e53935",
    TerminalKind.ESCALATED: "#e53935",
}


def node_colour(procedure: Procedure, node_id: str) -> str:
    node = procedure.nodes[node_id]
    if node.terminal is not None:
        return COLOURS[node.terminal]
    return COLOURS[node.role.value]


def _label(node_id: str, procedure: Procedure) -> str:
    node = procedure.nodes[node_id]
    label = node.title or node_id.replace("_", " ")
    return f"{label} [{node.tool}]" if node.role is Role.TOOL and node.tool else label


def _edge_texts(procedure: Procedure) -> list[tuple[str, str, str | None]]:
    """Edges as (source, target, label): a condition, or the tool result that takes the edge."""
    return [(nid, e.to, e.when or (f"result: {e.result}" if e.result else None))
            for nid, node in procedure.nodes.items() for e in node.edges]


def to_mermaid(procedure: Procedure) -> str:
    hubs = set(procedure.hubs())
    lines = ["flowchart TD"]
    for nid in procedure.nodes:
        label = _label(nid, procedure).replace('"', "'")
        shape = f'{{"{label}"}}' if nid in hubs else f'["{label}"]'
        lines.append(f"    {nid}{shape}")
    for src, dst, when in _edge_texts(procedure):
        arrow = "-.->" if same_turn(procedure, src, dst) else "-->"
        if when:
            text = when.replace('"', "'").replace("|", "/")
            lines.append(f'    {src} {arrow}|"{text}"| {dst}')
        else:
            lines.append(f"    {src} {arrow} {dst}")
    for nid in procedure.nodes:
        lines.append(f"    style {nid} fill:{node_colour(procedure, nid)},color:#fff")
    return "\n".join(lines) + "\n"


def to_dot(procedure: Procedure, node_scores: dict[str, float] | None = None) -> str:
    """DOT source; `node_scores` (0..1, e.g. trace-judge pass rates) adds them to labels."""
    hubs = set(procedure.hubs())
    q = json.dumps  # DOT accepts JSON-style double-quoted strings
    lines = [f"digraph {q(procedure.name)} {{", "    rankdir=TB;",
             '    node [style=filled, fontcolor=white, fontname="Helvetica"];']
    for nid in procedure.nodes:
        label = _label(nid, procedure)
        if node_scores and nid in node_scores:
            label += f"\n{node_scores[nid]:.0%}"
        shape = "diamond" if nid in hubs else ("doubleoctagon" if procedure.nodes[nid].terminal else "box")
        lines.append(f"    {nid} [label={q(label)}, shape={shape}, fillcolor={q(node_colour(procedure, nid))}];")
    for src, dst, when in _edge_texts(procedure):
        attrs = [f"label={q(when)}", "fontsize=10"] if when else []
        attrs += ["style=dotted"] if same_turn(procedure, src, dst) else []
        lines.append(f"    {src} -> {dst}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"
