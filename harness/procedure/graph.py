"""The procedure as a networkx DiGraph, and the graph facts other modules ask for."""

from __future__ import annotations

import networkx as nx

from harness.procedure.spec import Procedure


def to_digraph(procedure: Procedure) -> nx.DiGraph:
    """Nodes carry `role`, `terminal`, `prompt`; edges carry `when` and `order` (file order)."""
    g = nx.DiGraph(name=procedure.name, start=procedure.start)
    for nid, node in procedure.nodes.items():
        g.add_node(nid, role=node.role.value, terminal=node.terminal.value if node.terminal else None,
                   prompt=node.prompt)
    for order, (src, dst, when) in enumerate(procedure.edges()):
        if dst in g:
            g.add_edge(src, dst, when=when, order=order)
    return g


def loop_edges(procedure: Procedure) -> list[tuple[str, str]]:
    """Edges that close a cycle in a depth-first search from `start`, successors in file order.

    For well-structured flowcharts these are exactly the edges that jump back to an
    earlier step ("ask for more details", "re-request documents"); removing them leaves
    a DAG. Path enumeration bounds how often each of them is taken.
    """
    g = to_digraph(procedure)
    back: list[tuple[str, str]] = []
    state: dict[str, int] = {}  # 1 = on the DFS stack, 2 = finished
    stack: list[tuple[str, list[str]]] = [(procedure.start, list(procedure.successors(procedure.start)))]
    state[procedure.start] = 1
    while stack:
        node, todo = stack[-1]
        if not todo:
            state[node] = 2
            stack.pop()
            continue
        nxt = todo.pop(0)
        if nxt not in g:
            continue
        if state.get(nxt) == 1:
            back.append((node, nxt))
        elif nxt not in state:
            state[nxt] = 1
            stack.append((nxt, list(procedure.successors(nxt))))
    return back
