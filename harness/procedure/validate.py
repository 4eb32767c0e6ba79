"""Rules that relate a procedure's fields to each other; each failure names file, line, node."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import networkx as nx
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match

from harness.errors import SpecError
from harness.procedure.graph import to_digraph
from harness.procedure.spec import Procedure, Role
from harness.templates import (
    TemplateFailure,
    compile_template,
    render,
    render_value,
    template_names,
)
from harness.yaml_source import SourceMap


def check_procedure(procedure: Procedure, source: SourceMap) -> list[SpecError]:
    """Every structural rule of the format; returns all problems found (empty = valid)."""
    errors: list[SpecError] = []
    nodes = procedure.nodes

    def err(message: str, path: tuple, node: str | None = None) -> None:
        errors.append(source.error(message, path, node))

    if procedure.start not in nodes:
        err(f"start names unknown node '{procedure.start}'", ("start",))

    errors += tool_errors(procedure, source)
    for nid, node in nodes.items():
        base = ("nodes", nid)
        edges = node.edges
        if node.role is not Role.TOOL and not node.prompt:
            err(f"{node.role.value} step needs a `prompt`", base, nid)
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
            if edge.to in seen and node.role is Role.TOOL:
                both = [e.result for e in edges if e.to == edge.to]
                err(f"duplicate edge to '{edge.to}': results {' and '.join(repr(r) for r in both)} of tool "
                    f"'{node.tool}' both lead there, and a tool step has one edge per node it leads to; declare "
                    "one result for them in the tool's `results` (e.g. failed) and map each backend outcome to "
                    "it in the scenario set's `results` (missing: failed, mismatch: failed)", epath, nid)
            elif edge.to in seen:
                err(f"duplicate edge to '{edge.to}'", epath, nid)
            seen.add(edge.to)
            if len(edges) > 1 and edge.when is None and node.role is not Role.TOOL:
                err(f"decision hub edge to '{edge.to}' needs a `when` condition",
                    base + ("next", i), nid)
            if edge.examples and node.role is not Role.USER:
                hint = (f"; the customer's words on this branch are customer step '{edge.to}'s own: move "
                        f"them to its `examples`" if edge.to in nodes and nodes[edge.to].role is Role.USER else "")
                err(f"edge to '{edge.to}' has `examples`, but only a customer (user) turn's edges "
                    f"may: they are what the customer says to take the branch{hint}", base + ("next", i), nid)
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
    # A tool step is the agent's too: the agent must still speak after its result.
    agent_only = g.subgraph(n for n, node in nodes.items() if node.role is not Role.USER)
    try:  # linear: one depth-first search
        cycle = [src for src, _ in nx.find_cycle(agent_only)]
    except nx.NetworkXNoCycle:
        cycle = []
    if cycle:  # a chain is one message: a loop of agent steps would never hand the turn back
        err(f"agent steps loop without a customer turn ({' -> '.join([*cycle, cycle[0]])}): one agent "
            "message covers a run of agent steps, so the loop would never let the customer speak; "
            "route the loop back through a customer step", ("nodes", cycle[0]), cycle[0])
    return errors


def tool_errors(procedure: Procedure, source: SourceMap) -> list[SpecError]:
    """The rules of tool steps: a declared tool, arguments its schema allows, edges on results the
    tool can return, and a place in the conversation where the agent can call it."""
    errors: list[SpecError] = []
    nodes = procedure.nodes

    def err(message: str, path: tuple, node: str | None = None) -> None:
        errors.append(source.error(message, path, node))

    for name, tool in procedure.tools.items():
        try:
            Draft202012Validator.check_schema(tool.parameters)
        except SchemaError as e:
            err(f"tool '{name}': parameters is not a valid JSON Schema: {e.message}", ("tools", name, "parameters"))
            continue
        if tool.parameters.get("type") != "object":
            err(f"tool '{name}': parameters must be an object schema (type: object), as tool-use APIs require",
                ("tools", name, "parameters"))
    preds: dict[str, list[str]] = {nid: [] for nid in nodes}
    for src, dst, _ in procedure.edges():
        preds.setdefault(dst, []).append(src)
    for nid, node in nodes.items():
        base = ("nodes", nid)
        if node.role is not Role.TOOL:
            if node.tool is not None or node.arguments:
                err("only a tool step (role: tool) has `tool` and `arguments`", base + ("tool" if node.tool else "arguments",), nid)
            for i, edge in enumerate(node.edges):
                if edge.result is not None:
                    err(f"edge to '{edge.to}' has `result`, but only a tool step's edges branch on a tool's result",
                        base + ("next", i), nid)
            continue
        if node.terminal is not None:
            err("a tool step cannot be terminal: the agent speaks after the tool answers", base + ("terminal",), nid)
        if node.tool is None:
            err("tool step needs `tool`: the name of one of the procedure's `tools`", base, nid)
            continue
        tool = procedure.tools.get(node.tool)
        if tool is None:
            known = ", ".join(procedure.tools) or "none declared"
            err(f"unknown tool '{node.tool}' (tools: {known})", base + ("tool",), nid)
            continue
        errors.extend(argument_errors(procedure, nid, source))
        edges = node.edges
        for i, edge in enumerate(edges):
            epath = base + ("next",) + ((i,) if isinstance(node.next, list) else ())
            if edge.result is None and len(edges) > 1:
                err(f"edge to '{edge.to}' needs `result`: which of {tool.results} takes it", epath, nid)
            elif edge.result is not None and edge.result not in tool.results:
                err(f"edge to '{edge.to}' branches on result '{edge.result}', which tool '{node.tool}' cannot "
                    f"return (results: {', '.join(tool.results)})", epath + ("result",), nid)
            if edge.to in nodes and nodes[edge.to].role is Role.USER:
                err(f"tool step is followed by a customer step ('{edge.to}'): after a tool answers, the agent "
                    "speaks (or calls another tool) before the customer does", epath, nid)
        if len(edges) > 1:
            taken = [e.result for e in edges]
            missing = [r for r in tool.results if r not in taken]
            if missing:
                err(f"no edge for result {', '.join(repr(r) for r in missing)} of tool '{node.tool}': every result "
                    "the tool can return needs an edge", base + ("next",), nid)
            repeated = sorted({r for r in taken if r is not None and taken.count(r) > 1})
            if repeated:
                err(f"result '{repeated[0]}' takes more than one edge", base + ("next",), nid)
        if nid == procedure.start:
            err("a tool step cannot start the conversation: its arguments come from what the customer said",
                base, nid)
        for src in preds.get(nid, []):
            if src in nodes and nodes[src].role is Role.AGENT:
                err(f"tool step follows an agent step ('{src}'): put it right after the customer step that gives "
                    "its arguments (or after another tool step); the agent then speaks after the result", base, nid)
                break
    return errors


def argument_errors(procedure: Procedure, nid: str, source: SourceMap | None,
                    context: dict[str, Any] | None = None) -> list[SpecError]:
    """A tool step's arguments against its tool's schema: names and required names always;
    values too when they are literals, or rendered with `context` (a scenario's variables)."""
    node = procedure.nodes[nid]
    tool = procedure.tools[node.tool or ""]
    base = ("nodes", nid, "arguments")
    errors: list[SpecError] = []

    def err(message: str, path: tuple) -> None:
        line = source.line(path) if source else None
        errors.append(SpecError(message, file=source.file if source else None, line=line, node=nid))

    properties = tool.parameters.get("properties", {})
    if tool.parameters.get("additionalProperties") is not True:
        for name in node.arguments:
            if name not in properties:
                err(f"argument '{name}' is not a parameter of tool '{node.tool}' "
                    f"(parameters: {', '.join(properties) or 'none'})", base + (name,))
    missing = [name for name in tool.parameters.get("required", []) if name not in node.arguments]
    if missing:
        err(f"tool '{node.tool}' requires argument(s) {', '.join(missing)}", base if node.arguments else ("nodes", nid))
    if errors:
        return errors
    for name, value in node.arguments.items():
        if context is None and isinstance(value, str) and "{" in value:
            continue        # a template: checked with each scenario's values
        try:
            rendered = render_argument(value, context or {})
        except TemplateFailure as e:
            err(f"argument '{name}': {e}", base + (name,))
            continue
        schema = properties.get(name)
        if schema is None:
            continue
        problem = best_match(Draft202012Validator(schema).iter_errors(rendered))
        if problem is not None:
            used = "" if context is None else f" (rendered {rendered!r})"
            err(f"argument '{name}' is outside tool '{node.tool}''s schema: {problem.message}{used}", base + (name,))
    return errors


def render_argument(value: Any, context: dict[str, Any]) -> Any:
    """One argument's value for a scenario (see `harness.templates.render_value`)."""
    return render_value(value, context)


def render_arguments(procedure: Procedure, nid: str, context: dict[str, Any]) -> dict[str, Any]:
    """The arguments a tool step calls its tool with, for a scenario's variables."""
    return {name: render_argument(value, context) for name, value in procedure.nodes[nid].arguments.items()}


def node_templates(procedure: Procedure) -> Iterator[tuple[str, tuple, str]]:
    """Every template in the procedure as (node id, data path, text): prompts, examples,
    edge examples and tool-step arguments."""
    for nid, node in procedure.nodes.items():
        base = ("nodes", nid)
        if node.prompt:
            yield nid, base + ("prompt",), node.prompt
        for name, value in node.arguments.items():
            if isinstance(value, str):
                yield nid, base + ("arguments", name), value
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
