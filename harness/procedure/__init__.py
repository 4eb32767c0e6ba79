"""Procedures: the flowchart spec, loading with line-numbered errors, graph view, paths."""

from harness.procedure.graph import loop_edges, to_digraph
from harness.procedure.load import load_procedure
from harness.procedure.paths import PathSpace, PathStats, sample_paths
from harness.procedure.spec import Edge, Node, Procedure, Role, TerminalKind

__all__ = [
    "Edge",
    "Node",
    "PathSpace",
    "PathStats",
    "Procedure",
    "Role",
    "TerminalKind",
    "load_procedure",
    "loop_edges",
    "sample_paths",
    "to_digraph",
]
