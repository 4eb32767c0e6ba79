"""Procedures: the flowchart spec, loading with line-numbered errors, graph view, paths."""

from harness.procedure.graph import loop_edges, to_digraph
from harness.procedure.load import load_procedure
from harness.procedure.paths import PathSpace, PathStats, sample_paths
from harness.procedure.spec import Edge, Node, Procedure, Role, TerminalKind
from harness.procedure.turns import chain_toward, is_agent_decision, same_turn, turn_groups

__all__ = [
    "Edge",
    "Node",
    "PathSpace",
    "PathStats",
    "Procedure",
    "Role",
    "TerminalKind",
    "chain_toward",
    "is_agent_decision",
    "load_procedure",
    "loop_edges",
    "same_turn",
    "sample_paths",
    "to_digraph",
    "turn_groups",
]
