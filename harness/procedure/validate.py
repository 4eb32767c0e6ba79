"""Rules that relate a procedure's fields to each other; each failure names file, line, node."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import networkx as nx

from harness.errors import SpecError
from harness.procedure.graph import to_digraph
from harness.procedure.spec import Procedure, Role
from harness.templates import TemplateFailure, compile_template, render, template_names
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
    for nid, path, text in node_templates(procedure):
        try:
            compile_template(text)
        except TemplateFailure as e:
            errors.append(source.error(f"{'/'.join(map(str, path[2:]))}: {e}", path, nid))
    if errors:  # reachability needs well-formed edges
        return errors

    g = to_digraph(procedure)
    reachable = nx.descendants(g, procedure.start) | {procedure.start}
    unreachable = [nid for nid in nodes if nid not in reachable]
    if unreachable:  # one error for the group: they usually share one cause
        err(f"unreachable from start: {', '.join(unreachable)}", ("nodes", unreachable[0]), unreachable[0])
    end = ("end",)      # one search back from every terminal at once (not one per terminal)
    g.add_edges_from((n, end) for n, node in nodes.items() if node.terminal is not None)
    can_finish = nx.ancestors(g, end)
    stuck = [nid for nid in nodes if nid in reachable and nid not in can_finish]
    if stuck:
        err(f"cannot reach any terminal, so the conversation could never end: {', '.join(stuck)}",
            ("nodes", stuck[0]), stuck[0])
    agent_only = g.subgraph(n for n, node in nodes.items() if node.role is Role.AGENT)
    try:  # linear: one depth-first search
        cycle = [src for src, _ in nx.find_cycle(agent_only)]
    except nx.NetworkXNoCycle:
        cycle = []
    if cycle:  # a chain is one message: a loop of agent steps would never hand the turn back
        err(f"agent steps loop without a customer turn ({' -> '.join([*cycle, cycle[0]])}): one agent "
            "message covers a run of agent steps, so the loop would never let the customer speak; "
            "route the loop back through a customer step", ("nodes", cycle[0]), cycle[0])
    return errors


def node_templates(procedure: Procedure) -> Iterator[tuple[str, tuple, str]]:
    """Every template in the procedure as (node id, data path, text): prompts, examples and
    edge examples."""
    for nid, node in procedure.nodes.items():
        base = ("nodes", nid)
        yield nid, base + ("prompt",), node.prompt
        for i, text in enumerate(node.examples):
            yield nid, base + ("examples", i), text
        if isinstance(node.next, list):
            for i, edge in enumerate(node.next):
                for j, text in enumerate(edge.examples):
                    yield nid, base + ("next", i, "examples", j), text


def template_variables(procedure: Procedure) -> dict[str, set[str]]:
    """Per node, the variables its prompt and examples use (templates must compile)."""
    out: dict[str, set[str]] = {nid: set() for nid in procedure.nodes}
    for nid, _, text in node_templates(procedure):
        out[nid] |= template_names(text)
    return out


# (template, values of the names it reads) already rendered without error: rendering is a pure
# function of these, and a suite of many entries renders the same few combinations again.
_RENDERED: set[tuple[str, str]] = set()


def rendering_errors(procedure: Procedure, contexts: list[dict[str, Any]]) -> list[SpecError]:
    """Render every template with every context (sandboxed, bounded); the first failure of each
    template as `file:line: node 'x': prompt: … (with name=value …)`."""
    source = procedure.source
    errors: list[SpecError] = []
    for nid, path, text in node_templates(procedure):
        if "{" not in text:      # plain text: nothing to render
            continue
        names = sorted(template_names(text))
        seen: set[str] = set()
        for context in contexts:
            key = repr([context.get(k) for k in names])   # rendering depends only on these
            if key in seen or (text, key) in _RENDERED:
                continue
            seen.add(key)
            try:
                render(text, context)
                if len(_RENDERED) > 100_000:
                    _RENDERED.clear()
                _RENDERED.add((text, key))
            except TemplateFailure as e:
                used = ", ".join(f"{k}={context[k]!r}" for k in names if k in context)
                message = f"{'/'.join(map(str, path[2:]))}: {e}" + (f" (with {used})" if used else "")
                errors.append(SpecError(message, file=source.file if source else None,
                                        line=source.line(path) if source else None, node=nid))
                break
    return errors
