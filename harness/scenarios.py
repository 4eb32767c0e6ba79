"""Scenario sets: the variables and personas a procedure is exercised with.

A scenario is one seeded draw of variables and persona bound to the path it is meant to
exercise. Scenario *i* of a (set, n, seed) is the same in every condition: conditions
are paired by scenario index.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationInfo,
    field_validator,
)

from harness.backend.arrange import argument_choices, arrange_backend, repeated_call
from harness.backend.spec import BackendSpec, State, load_callable
from harness.errors import SpecError, SpecErrors
from harness.procedure.paths import Path as NodePath
from harness.procedure.paths import Target, keyed_walk, paths_through, planned_space, sample_paths
from harness.procedure.spec import Identifier, Procedure, Role
from harness.procedure.validate import argument_errors, rendering_errors, template_variables
from harness.seeds import stable_int
from harness.spec_file import Sourced, file_schema, load_spec
from harness.yaml_source import SourceMap

Scalar = str | int | float | bool


class Range(BaseModel):
    """An integer range, inclusive at both ends, drawn in steps."""

    model_config = ConfigDict(extra="forbid")

    range: list[int] = Field(json_schema_extra={"minItems": 2, "maxItems": 2})   # checked below, with a clearer message
    step: int = Field(default=1, gt=0)

    @field_validator("range")
    @classmethod
    def _two_ends(cls, value: list[int]) -> list[int]:
        if len(value) != 2:
            raise ValueError(f"range is [start, end] (two integers), found {len(value)} value(s)")
        if value[0] > value[1]:
            raise ValueError(f"range start {value[0]} is above its end {value[1]}")
        return value

    def draw(self, rng: random.Random) -> int:
        return rng.randrange(self.range[0], self.range[1] + 1, self.step)

    def values(self) -> list[int]:
        """The two ends as drawn (the end rounded down to the step)."""
        lo, hi = self.range
        return sorted({lo, lo + (hi - lo) // self.step * self.step})


def _variable_kind(value: Any) -> str | None:
    # Called on the YAML's value when validating and on the model when serialising.
    if isinstance(value, (dict, Range)):
        return "a range"
    return "a list of choices" if isinstance(value, list) else None


Choice = Annotated[list[Scalar], Field(min_length=1)]
# A list of choices or a range; the discriminator makes errors speak of the form written.
VariableSpec = Annotated[
    Annotated[Choice, Tag("a list of choices")] | Annotated[Range, Tag("a range")],
    Discriminator(_variable_kind, custom_error_type="variable_spec",
                  custom_error_message="a variable is a list of choices or {range: [start, end], step: n}"),
]

# Names the template language gives its own meaning to.
RESERVED = frozenset({"self", "loop", "caller", "varargs", "kwargs", "range", "lipsum", "dict", "namespace",
                      "cycler", "joiner", "true", "false", "none", "True", "False", "None"})


class ScenarioSet(Sourced):
    model_config = ConfigDict(extra="forbid")

    procedure: Identifier
    variables: dict[Identifier, VariableSpec] = Field(default_factory=dict)
    persona: dict[Identifier, Choice] = Field(default_factory=dict)
    # The state the procedure's tools act on, and how each tool behaves (harness.backend).
    backend: BackendSpec | None = None
    # Procedures (these very objects) `check_against` passed: a suite naming one pair many
    # times checks it once.
    _passed: list[Procedure] = PrivateAttr(default_factory=list)

    @field_validator("variables", "persona")
    @classmethod
    def _not_reserved(cls, value: dict[str, Any]) -> dict[str, Any]:
        taken = sorted(RESERVED & set(value))
        if taken:
            raise ValueError(f"'{taken[0]}' is reserved by the template language; name it otherwise")
        return value

    @field_validator("persona")
    @classmethod
    def _not_a_variable(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # Templates see variables and traits under one namespace: one would hide the other.
        both = sorted(set(value) & set(info.data.get("variables") or ()))
        if both:
            raise ValueError(f"'{both[0]}' is both a variable and a persona trait; templates see both under one "
                             "name, so one would hide the other: rename one")
        return value

    def value_contexts(self, seed: int = 0) -> list[dict[str, Any]]:
        """Template contexts that together show every value of every variable and trait once:
        one seeded draw, then that draw with one name changed to each of its values."""
        rng = random.Random(f"{seed}:{self.procedure}:values")
        base = self.draw(rng)
        contexts = [base]
        options = {k: (spec.values() if isinstance(spec, Range) else spec) for k, spec in self.variables.items()}
        options |= self.persona
        for name, values in options.items():
            contexts.extend({**base, name: v} for v in values if v != base[name])
        return contexts

    def draw(self, rng: random.Random) -> dict[str, Any]:
        """One seeded draw of every variable and persona trait, as templates see them."""
        variables = {k: (spec.draw(rng) if isinstance(spec, Range) else rng.choice(spec))
                     for k, spec in self.variables.items()}
        return {**variables, **{k: rng.choice(v) for k, v in self.persona.items()}}

    def names(self) -> set[str]:
        """Every name a template may use: variables and persona traits."""
        return set(self.variables) | set(self.persona)


class ScenarioBackend(BaseModel):
    """A scenario's backend: how its tools behave, the state it starts in (arranged for its
    path), and the state the path implies at the end (the judge-free verdict's reference)."""

    model_config = ConfigDict(frozen=True)

    spec: BackendSpec
    initial: State
    expected_end: State
    # Per tool step of the path, in order: (node, tool, arguments the customer gives, result).
    expected_calls: list[dict[str, Any]] = Field(default_factory=list)


class Scenario(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    procedure: str
    variables: dict[str, Any]
    persona: dict[str, Any]
    path: tuple[str, ...]
    seed: int
    # One trial of the scenario (a gate's `trials: k` runs trials 0 … k−1): trial t > 0 gets seeds
    # and cache entries of its own, and `temperature` is what local models sample it at.
    # Both are left out of dumps at their defaults, so keys of single-trial runs are unchanged.
    trial: int = Field(default=0, ge=0, exclude_if=lambda trial: trial == 0)
    temperature: float = Field(default=0.0, ge=0, exclude_if=lambda t: t == 0)

    def trial_seed(self, *parts: object) -> int:
        """A seed for `parts` of this scenario's conversation, distinct per trial (trial 0: as before)."""
        return stable_int(*parts, *((f"trial-{self.trial}",) if self.trial else ()))

    def of_trial(self, trial: int, temperature: float = 0.0) -> Scenario:
        return self.model_copy(update={"trial": trial, "temperature": temperature})
    # Only for procedures with tools (omitted otherwise, so other scenarios' keys are unchanged).
    backend: ScenarioBackend | None = Field(default=None, exclude_if=lambda b: b is None)

    @property
    def context(self) -> dict[str, Any]:
        """What templates render with: variables and persona under one namespace."""
        return {**self.variables, **self.persona}

    @property
    def challenge(self) -> bool:
        """Whether the simulated user poses a challenge (caps graceful handling otherwise)."""
        return str(self.persona.get("challenge", "none")).lower() != "none"

    def key(self) -> str:
        """A stable id of this scenario's content, used in file names and cache keys."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def load_scenario_set(path: str | Path, text: str | None = None) -> ScenarioSet:
    """Load and validate a scenario set; raises `SpecErrors` (file:line)."""
    return load_spec(path, ScenarioSet, "a scenario file (procedure, variables, persona)", text)


def scenario_set_schema() -> dict[str, Any]:
    """JSON Schema of the scenario-set file format (for editors and CI linting)."""
    return file_schema(ScenarioSet, "subterra scenario set")


def check_against(scenario_set: ScenarioSet, procedure: Procedure) -> None:
    """`scenario_set` is for `procedure`, defines every name its templates use, and every
    template renders with every value the set can give it (sandboxed, bounded); raises
    `SpecErrors`, one line per problem."""
    if any(p is procedure for p in scenario_set._passed):
        return
    if scenario_set.procedure != procedure.name:
        raise SpecErrors([_error(scenario_set.source, f"scenario set is for procedure '{scenario_set.procedure}', "
                                 f"not '{procedure.name}'", ("procedure",))])
    defined = scenario_set.names()
    errors = [
        _error(procedure.source, f"template uses {', '.join(repr(n) for n in sorted(used - defined))}, which the "
               f"scenario set does not define (defined: {', '.join(sorted(defined)) or 'none'})",
               ("nodes", nid, "prompt"), nid)
        for nid, used in template_variables(procedure).items() if used - defined
    ]
    errors = errors or rendering_errors(procedure, scenario_set.value_contexts())
    errors = errors or backend_errors(scenario_set, procedure)
    if errors:
        raise SpecErrors(errors)
    scenario_set._passed.append(procedure)


def backend_errors(scenario_set: ScenarioSet, procedure: Procedure) -> list[SpecError]:
    """The scenario set's backend against the procedure's tools: a behaviour for every tool,
    results the tool declares, arguments it takes, importable python tools, and every tool
    step's arguments inside the tool's schema for every value the set can give them."""
    source = scenario_set.source
    if not procedure.tools:
        return []
    spec = scenario_set.backend
    if spec is None:
        return [_error(source, f"procedure '{procedure.name}' has tools ({', '.join(procedure.tools)}), so its "
                       "scenario set needs `backend:` (tables and how each tool behaves)", ())]
    errors: list[SpecError] = []
    for name in procedure.tools:
        if name not in spec.tools:
            errors.append(_error(source, f"backend declares no behaviour for tool '{name}'", ("backend", "tools")))
    for name, behaviour in spec.tools.items():
        path = ("backend", "tools", name)
        tool = procedure.tools.get(name)
        if tool is None:
            errors.append(_error(source, f"backend tool '{name}' is not a tool of procedure '{procedure.name}' "
                                 f"(tools: {', '.join(procedure.tools)})", path))
            continue
        for outcome, result in behaviour.results.items():
            if result not in tool.results:
                errors.append(_error(source, f"tool '{name}': outcome '{outcome}' maps to result '{result}', which "
                                     f"the procedure's tool cannot return (results: {', '.join(tool.results)})",
                                     path + ("results", outcome)))
        possible = behaviour.possible_results()
        unreachable = [r for r in tool.results if possible is not None and r not in possible]
        if unreachable:
            errors.append(_error(source, f"tool '{name}' never returns {', '.join(map(repr, unreachable))} as declared "
                                 f"(a {behaviour.kind} comes to {', '.join(behaviour.outcomes())}; map one in "
                                 "`results`), so no scenario could take that branch", path))
        params = set(tool.parameters.get("properties", {}))
        unknown = sorted(behaviour.arguments() - params)
        if unknown:
            errors.append(_error(source, f"tool '{name}' reads argument '{unknown[0]}', which is not one of its "
                                 f"parameters ({', '.join(sorted(params)) or 'none'})", path))
        for key in ("python", "arrange"):
            ref = getattr(behaviour, key)
            if ref:
                try:
                    load_callable(ref)
                except (ImportError, AttributeError) as e:
                    errors.append(_error(source, f"tool '{name}': cannot import {key} '{ref}': {e}", path + (key,)))
        if behaviour.table is not None and behaviour.table not in spec.tables:
            errors.append(_error(source, f"tool '{name}' uses table '{behaviour.table}', which `backend.tables` "
                                 f"does not declare ({', '.join(spec.tables) or 'none'})", path + (behaviour.kind,)))
    contexts = scenario_set.value_contexts()
    for nid, node in procedure.nodes.items():
        if node.role is Role.TOOL and node.tool in procedure.tools:
            for context in contexts:
                found = argument_errors(procedure, nid, procedure.source, context)
                if found:
                    errors.extend(found)
                    break
    return errors


def _error(source: SourceMap | None, message: str, path: tuple, node: str | None = None) -> SpecError:
    return source.error(message, path, node) if source else SpecError(message, node=node)


def sample_scenarios(scenario_set: ScenarioSet, procedure: Procedure, n: int, seed: int,
                     max_loops: int = 1) -> list[Scenario]:
    """`n` scenarios, each a seeded draw bound to a path from the coverage sampler."""
    check_against(scenario_set, procedure)
    out = [draw_possible(scenario_set, procedure, i, path, seed, ("path", seed, i), max_loops=max_loops)
           for i, path in enumerate(sample_paths(procedure, n, seed, max_loops))]
    # The very values this run will use render too, so the run cannot fail on a template.
    rendering = rendering_errors(procedure, [s.context for s in out])
    if rendering:
        raise SpecErrors(rendering)
    return out


REDRAWS = 64     # walks tried in place of a path no backend state can give


class UnarrangeablePath(SpecErrors):
    """A path whose declared tools cannot give the results it takes from any state arranged
    for it (say, a retry that repeats a lookup's call and needs another answer)."""


def draw_possible(scenario_set: ScenarioSet, procedure: Procedure, index: int, path: NodePath, seed: int,
                  key: tuple, through: Target | None = None, max_loops: int = 1) -> Scenario:
    """`draw_scenario` on `path`, or, when no backend state can give that path, on the first
    keyed walk (through `through`) that one can. Deterministic, and `path` itself whenever it
    can happen, so the other scenarios keep theirs; raises when no walk tried can."""
    try:
        return draw_scenario(scenario_set, procedure, index, path, seed)
    except UnarrangeablePath as first:
        space = planned_space(procedure, max_loops)
        for attempt in range(REDRAWS):
            walk = keyed_walk(space, (*key, "possible", attempt), through)
            if walk is None:
                break
            try:
                return draw_scenario(scenario_set, procedure, index, walk, seed)
            except UnarrangeablePath:
                continue
        raise first


def draw_scenario(scenario_set: ScenarioSet, procedure: Procedure, index: int, path: tuple[str, ...], seed: int) -> Scenario:
    # One RNG per scenario index, never fed by the path: scenario i keeps its variables and
    # persona when n grows and when an edit moves its path.
    rng = random.Random(f"{seed}:{scenario_set.procedure}:{index}")
    drawn = scenario_set.draw(rng)
    variables = {k: drawn[k] for k in scenario_set.variables}
    persona = {k: drawn[k] for k in scenario_set.persona}
    backend = None
    if scenario_set.backend is not None and procedure.tools:
        choices = {k: spec for k, spec in scenario_set.variables.items() if isinstance(spec, list)}
        initial, replay = arrange_backend(scenario_set.backend, procedure, path, drawn, seed=seed, index=index,
                                          choices=argument_choices(procedure, choices))
        if replay.contradictions:
            step = replay.contradictions[0]
            declared = all(scenario_set.backend.tools[s.tool].kind != "python" for s in replay.steps)
            if not declared:
                raise SpecErrors([_error(scenario_set.source, f"scenario {index}: the backend cannot be arranged "
                                         f"for its path: tool step '{step.node}' must return '{step.expected}' but "
                                         f"returns '{step.got}' (give the python tool an `arrange` function)",
                                         ("backend", "tools", step.tool))])
            repeat = repeated_call(scenario_set.backend, procedure, path)
            why = (f"it reaches lookup '{repeat[0]}' again with the customer's same details and needs "
                   f"'{repeat[2]}' after '{repeat[1]}'" if repeat else
                   f"tool step '{step.node}' answers '{step.got}', not '{step.expected}', from any state that "
                   "gives the path's earlier results")
            raise UnarrangeablePath([_error(procedure.source, f"no path tried can happen with the declared tools: "
                                            f"{' -> '.join(path)}: {why} (a scenario draws the customer's details "
                                            "once; let such paths end, or give the tool a python behaviour)",
                                            ("nodes", step.node), step.node)])
        backend = ScenarioBackend(
            spec=scenario_set.backend, initial=initial, expected_end=replay.end_state,
            expected_calls=[{"node": s.node, "tool": s.tool, "arguments": s.arguments, "result": s.expected}
                            for s in replay.steps])
    return Scenario(index=index, procedure=procedure.name, variables=variables, persona=persona, path=path,
                    seed=seed, backend=backend)


def exercising_scenarios(scenario_set: ScenarioSet, procedure: Procedure, base: list[Scenario],
                         targets: Sequence[Target], k: int, seed: int, max_loops: int = 1) -> list[Scenario]:
    """Scenarios to add to `base` so that at least `k` pass through every target (a node or
    an edge, e.g. what an edit added or changed), numbered on after `base`.

    Deterministic: a target's walks depend on its name and the seed (`paths_through`), and
    targets are served in sorted order. A target no path reaches gets none.
    """
    extra: list[Scenario] = []
    for target in sorted(targets, key=lambda t: (isinstance(t, tuple), t)):
        have = sum(_passes(s.path, target) for s in [*base, *extra])
        if have >= k:
            continue
        label = target if isinstance(target, str) else "->".join(target)
        for j, path in enumerate(paths_through(procedure, target, k - have, seed, max_loops)):
            extra.append(draw_possible(scenario_set, procedure, len(base) + len(extra), path, seed,
                                       ("through", seed, label, j), target, max_loops))
    return extra


def _passes(path: tuple[str, ...], target: Target) -> bool:
    return target in path if isinstance(target, str) else target in zip(path, path[1:], strict=False)
