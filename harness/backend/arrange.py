"""Each scenario's backend, drawn so that its path's tool results follow from it.

The path is sampled first (as for every procedure); then the declared tables are rendered
with the scenario's variables and, step by step along the path, the state is arranged so
that each tool step, called with the arguments the customer states, returns the result
whose edge the path takes: a lookup that must fail loses its record, one that must find a
mismatch gets a different value, a create that must collide gets its duplicate. The path is
then replayed from the arranged state; a step whose result still differs (only possible for
a python tool without `arrange`, or a path that needs two results from one call) is a
contradiction, reported, never trained on. The replay's end state is what the conversation's
backend must end as (tau-bench's verdict).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.backend.spec import BackendSpec, Record, State, ToolBehaviour, load_callable
from harness.backend.state import Backend, ToolFailure, _matches, _wanted
from harness.procedure.spec import Procedure, Role
from harness.procedure.validate import render_argument, render_arguments
from harness.seeds import stable_int


@dataclass
class ToolStep:
    """One tool step of a path: where, which call, what the path needs, what came back."""

    position: int                 # index in the path
    node: str
    tool: str
    arguments: dict[str, Any]
    expected: str                 # the result whose edge the path takes
    got: str | None = None        # the replay's result

    @property
    def contradicts(self) -> bool:
        return self.got != self.expected


@dataclass
class Replay:
    steps: list[ToolStep] = field(default_factory=list)
    end_state: State = field(default_factory=dict)

    @property
    def contradictions(self) -> list[ToolStep]:
        return [s for s in self.steps if s.contradicts]


def render_tables(spec: BackendSpec, context: dict[str, Any]) -> State:
    """The declared tables with the scenario's variables filled in."""
    return {name: [{k: render_argument(v, context) for k, v in record.items()} for record in records]
            for name, records in spec.tables.items()}


def path_tool_steps(procedure: Procedure, path: Sequence[str], context: dict[str, Any]) -> list[ToolStep]:
    """The tool steps of `path`, with their arguments and the result the path needs of each."""
    steps = []
    for i, nid in enumerate(path):
        node = procedure.nodes[nid]
        if node.role is not Role.TOOL or i + 1 >= len(path):
            continue
        edge = next(e for e in node.edges if e.to == path[i + 1])
        tool = procedure.tools[node.tool or ""]
        expected = edge.result if edge.result is not None else tool.results[0]
        steps.append(ToolStep(i, nid, node.tool or "", render_arguments(procedure, nid, context), expected))
    return steps


def replay_path(spec: BackendSpec, procedure: Procedure, path: Sequence[str], context: dict[str, Any],
                initial: State) -> Replay:
    """Every tool step of `path` called, in order, on a copy of `initial`."""
    backend = Backend(spec, initial)
    steps = path_tool_steps(procedure, path, context)
    for step in steps:
        try:
            step.got = backend.execute(step.tool, step.arguments).get("result")
        except ToolFailure:
            step.got = None
    return Replay(steps=steps, end_state=backend.snapshot())


def arrange_backend(spec: BackendSpec, procedure: Procedure, path: Sequence[str], context: dict[str, Any],
                    *, seed: int, index: int, choices: dict[str, list[Any]] | None = None) -> tuple[State, Replay]:
    """The scenario's initial state (arranged for its path) and the replay of the path on it."""
    state = render_tables(spec, context)
    steps = path_tool_steps(procedure, path, context)
    for k, step in enumerate(steps):
        if _replay_upto(spec, steps, state, k)[-1] == step.expected:
            continue
        behaviour = spec.tools[step.tool]
        if behaviour.kind == "python":      # its own `arrange`, told the result wanted
            _arrange(behaviour, step.expected, state, step, choices or {})
            continue
        outcomes = [o for o in behaviour.outcomes() if behaviour.result_of(o) == step.expected]
        if not outcomes:
            continue                  # cannot be arranged: the replay reports it
        # The seeded outcome first, then the others: an outcome that undoes an earlier step's
        # result is passed over (two-tier authentication reads one record twice: the second
        # tier failing by a missing record would make the first tier fail too).
        first = stable_int("outcome", seed, index, step.node, k) % len(outcomes)
        wanted = [s.expected for s in steps[: k + 1]]
        for outcome in outcomes[first:] + outcomes[:first]:
            trial = copy.deepcopy(state)
            _arrange(behaviour, outcome, trial, step, choices or {})
            if _replay_upto(spec, steps, trial, k) == wanted:
                state = trial
                break
        else:                         # none keeps the earlier results: the replay reports it
            _arrange(behaviour, outcomes[first], state, step, choices or {})
    return state, replay_path(spec, procedure, path, context, state)


def _replay_upto(spec: BackendSpec, steps: Sequence[ToolStep], state: State, k: int) -> list[str | None]:
    """The results of tool steps 0..k, called in order on a copy of `state`."""
    backend = Backend(spec, state)
    results: list[str | None] = []
    for step in steps[: k + 1]:
        try:
            results.append(backend.execute(step.tool, step.arguments).get("result"))
        except ToolFailure:
            results.append(None)
    return results


def _arrange(b: ToolBehaviour, outcome: str, state: State, step: ToolStep, choices: dict[str, list[Any]]) -> None:
    """Change `state` (the initial state) so that this step comes to `outcome`."""
    args = step.arguments
    if b.kind == "python":
        if b.arrange:
            load_callable(b.arrange)(state, dict(args), step.expected)
        return
    table = state.setdefault(b.table or "", [])
    if b.kind == "create":
        key = {f: b.fields.get(f, f) for f in b.unique}
        if outcome == "created":
            table[:] = [r for r in table if not _matches(r, _wanted(key, args))]
        else:   # duplicate: one record with the same unique fields is there already
            table.append({"id": f"{b.table}-0", **_wanted(key, args)})
        return
    match = _wanted(b.match, args)
    found = [r for r in table if _matches(r, match)]
    if outcome == "missing":
        table[:] = [r for r in table if not _matches(r, match)]
    elif outcome in ("found", "updated"):
        if not found:
            table.append(found_record := {**match})
            found = [found_record]
        found[0].update(_wanted(b.check, args))
    elif outcome == "mismatch":
        if not found:
            table.append(found_record := {**match})
            found = [found_record]
        for field_name, arg in b.check.items():
            found[0][field_name] = _different(args.get(arg), choices.get(arg, []))


def _different(value: Any, options: list[Any]) -> Any:
    """A value unlike `value`: another of the variable's choices, else a marked variant."""
    for option in options:
        if str(option).strip().casefold() != str(value).strip().casefold():
            return option
    return f"{value}-X" if not isinstance(value, (int, float)) else value + 1


def repeated_call(spec: BackendSpec, procedure: Procedure, path: Sequence[str]) -> tuple[str, str, str] | None:
    """A lookup `path` makes twice with the same arguments, needing two different results, with
    nothing written in between: (node, first result, second result); None when there is none.

    A scenario draws the customer's details once, so a retry loop repeats the very call, and a
    declared lookup answers a repeated call alike: a path that takes the loop and then another
    branch (fail, retry, succeed) cannot happen with any backend state.
    """
    seen: dict[tuple[str, str], str] = {}           # (tool, arguments) -> result the path needs
    for i, nid in enumerate(path[:-1]):
        node = procedure.nodes[nid]
        if node.role is not Role.TOOL or node.tool not in procedure.tools:
            continue
        behaviour = spec.tools.get(node.tool)
        if behaviour is None or behaviour.kind != "lookup":
            seen.clear()                            # a write (or unknown code): later answers may differ
            continue
        edge = next((e for e in node.edges if e.to == path[i + 1]), None)
        if edge is None:
            return None
        needed = edge.result if edge.result is not None else procedure.tools[node.tool].results[0]
        call = (node.tool, repr(sorted(node.arguments.items())))
        if call in seen and seen[call] != needed:
            return nid, seen[call], needed
        seen.setdefault(call, needed)
    return None


def argument_choices(procedure: Procedure, variables: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Per argument name, the choices of the variable its template is exactly (for mismatches)."""
    out: dict[str, list[Any]] = {}
    for node in procedure.nodes.values():
        for name, template in node.arguments.items():
            if isinstance(template, str):
                var = template.strip().removeprefix("{{").removesuffix("}}").strip()
                if var in variables:
                    out.setdefault(name, list(variables[var]))
    return out


def copy_state(state: State) -> State:
    return copy.deepcopy(state)


__all__ = ["Record", "Replay", "ToolStep", "argument_choices", "arrange_backend", "path_tool_steps",
           "render_tables", "repeated_call", "replay_path"]
