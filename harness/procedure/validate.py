"""Rules that relate a procedure's fields to each other; each failure names file, line, node."""

from __future__ import annotations

import jinja2
import jinja2.meta
import networkx as nx

from harness.errors import SpecError
from harness.procedure.graph import to_digraph
from harness.procedure.spec import Procedure, Role
from harness.templates import template_env
from harness.yaml_source import SourceMap


def check_procedure(procedure: Procedure, source: SourceMap) -> list[SpecError]:
    """Every structural rule of the format; returns all problems found (empty = valid)."""
    errors: list[SpecError] = []
    nodes = procedure.nodes

    def err(message: str, path: tuple, node: str | None = None) -> None:
        errors.append(source.error(message, path, node))

    if procedure.start not in nodes:
        err(f"start names unknown node '{procedure.start}'", ("start",))

    for nid, node in nodes.items():
        base = ("nodes", nid)
        edges = node.edges
        if node.terminal is not None and edges:
            err(f"terminal node ({node.terminal.value}) must not have `next`", base + ("next",), nid)
        if node.terminal is None and not edges:
            err("non-terminal node needs `next` (or mark it `terminal: success|abandoned|escalated`)",
                base, nid)
        seen: set[str] = set()
        for i, edge in enumerate(edges):
            epath = base + ("next",) + ((i, "to") if isinstance(node.next, list) else ())
            if edge.to not in nodes:
                err(f"`next` names unknown node '{edge.to}'", epath, nid)
            elif node.role is Role.USER and nodes[edge.to].role is Role.USER:
                err(f"customer step is followed by another customer step ('{edge.to}'): a customer "
                    f"turn is one message, so merge the two into one node (join their prompts), or put "
                    f"the agent step between them that the customer answers", epath, nid)
            if edge.to in seen:
                err(f"duplicate edge to '{edge.to}'", epath, nid)
            seen.add(edge.to)
            if len(edges) > 1 and edge.when is None:
                err(f"decision hub edge to '{edge.to}' needs a `when` condition",
                    base + ("next", i), nid)
            if edge.examples and node.role is not Role.USER:
                err(f"edge to '{edge.to}' has `examples`, but only a customer (user) turn's edges "
                    "may: they are what the customer says to take the branch", base + ("next", i), nid)
        templates = [("prompt", node.prompt)] + [(("examples", i), t) for i, t in enumerate(node.examples)]
        templates += [(("next", i, "examples", j), t) for i, e in enumerate(edges) for j, t in enumerate(e.examples)]
        for key, text in templates:
            path = base + (key if isinstance(key, tuple) else (key,))
            try:
                template_env().parse(text)
            except jinja2.TemplateSyntaxError as e:
                line = source.line(path)
                errors.append(SpecError(f"template syntax error in {'/'.join(map(str, path[2:]))}: {e.message}",
                                        file=source.file, line=line, node=nid))
    if errors:  # reachability needs well-formed edges
        return errors

    g = to_digraph(procedure)
    reachable = nx.descendants(g, procedure.start) | {procedure.start}
    unreachable = [nid for nid in nodes if nid not in reachable]
    if unreachable:  # one error for the group: they usually share one cause
        err(f"unreachable from start: {', '.join(unreachable)}", ("nodes", unreachable[0]), unreachable[0])
    can_finish: set[str] = set()
    for t in (n for n, node in nodes.items() if node.terminal is not None):
        can_finish |= nx.ancestors(g, t) | {t}
    stuck = [nid for nid in nodes if nid in reachable and nid not in can_finish]
    if stuck:
        err(f"cannot reach any terminal, so the conversation could never end: {', '.join(stuck)}",
            ("nodes", stuck[0]), stuck[0])
    agent_only = g.subgraph(n for n, node in nodes.items() if node.role is Role.AGENT)
    cycle = next(iter(nx.simple_cycles(agent_only)), None) if not nx.is_directed_acyclic_graph(agent_only) else None
    if cycle:  # a chain is one message: a loop of agent steps would never hand the turn back
        err(f"agent steps loop without a customer turn ({' -> '.join([*cycle, cycle[0]])}): one agent "
            "message covers a run of agent steps, so the loop would never let the customer speak; "
            "route the loop back through a customer step", ("nodes", cycle[0]), cycle[0])
    return errors


def template_variables(procedure: Procedure) -> dict[str, set[str]]:
    """Per node, the variables its prompt and examples use."""
    env = template_env()
    out: dict[str, set[str]] = {}
    for nid, node in procedure.nodes.items():
        used: set[str] = set()
        for text in [node.prompt, *node.examples, *(t for e in node.edges for t in e.examples)]:
            used |= jinja2.meta.find_undeclared_variables(env.parse(text))
        out[nid] = used
    return out
