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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import SpecError, SpecErrors
from harness.procedure.load import pydantic_errors
from harness.procedure.paths import Target, paths_through, sample_paths
from harness.procedure.spec import Identifier, Procedure
from harness.procedure.validate import template_variables
from harness.yaml_source import SourceMap, load_yaml

Scalar = str | int | float | bool


class Range(BaseModel):
    """An integer range, inclusive at both ends, drawn in steps."""

    model_config = ConfigDict(extra="forbid")

    range: Annotated[list[int], Field(min_length=2, max_length=2)]
    step: int = Field(default=1, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.range[0] > self.range[1]:
            raise ValueError(f"range start {self.range[0]} is above its end {self.range[1]}")
        return self

    def draw(self, rng: random.Random) -> int:
        return rng.randrange(self.range[0], self.range[1] + 1, self.step)


Choice = Annotated[list[Scalar], Field(min_length=1)]
VariableSpec = Choice | Range

PERSONA_KEYS = ("style", "satisfaction", "challenge")


class ScenarioSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    procedure: Identifier
    variables: dict[Identifier, VariableSpec] = Field(default_factory=dict)
    persona: dict[Identifier, Choice] = Field(default_factory=dict)
    _source: SourceMap | None = None

    def names(self) -> set[str]:
        """Every name a template may use: variables and persona traits."""
        return set(self.variables) | set(self.persona)


class Scenario(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    procedure: str
    variables: dict[str, Any]
    persona: dict[str, Any]
    path: tuple[str, ...]
    seed: int

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
    try:
        data, source = load_yaml(path, text)
    except SpecError as e:
        raise SpecErrors([e]) from None
    if not isinstance(data, dict):
        raise SpecErrors([source.error("a scenario file must be a mapping with procedure, variables, persona")])
    try:
        scenario_set = ScenarioSet.model_validate(data)
    except ValidationError as e:
        raise SpecErrors(pydantic_errors(e, source, "scenario set")) from None
    scenario_set._source = source
    return scenario_set


def check_against(scenario_set: ScenarioSet, procedure: Procedure) -> None:
    """Templates of `procedure` may use only names `scenario_set` defines; raises `SpecErrors`."""
    errors: list[SpecError] = []
    if scenario_set.procedure != procedure.name:
        src = scenario_set._source
        errors.append(SpecError(
            f"scenario set is for procedure '{scenario_set.procedure}', not '{procedure.name}'",
            file=src.file if src else None, line=src.line(("procedure",)) if src else None))
    defined = scenario_set.names()
    source = procedure.source
    for nid, used in template_variables(procedure).items():
        for name in sorted(used - defined):
            errors.append(SpecError(
                f"template uses variable '{name}' that the scenario set does not define "
                f"(defined: {', '.join(sorted(defined)) or 'none'})",
                file=source.file if source else None,
                line=source.line(("nodes", nid, "prompt")) if source else None, node=nid))
    if errors:
        raise SpecErrors(errors)


def sample_scenarios(scenario_set: ScenarioSet, procedure: Procedure, n: int, seed: int,
                     max_loops: int = 1) -> list[Scenario]:
    """`n` scenarios, each a seeded draw bound to a path from the coverage sampler."""
    check_against(scenario_set, procedure)
    paths = sample_paths(procedure, n, seed, max_loops)
    return [draw_scenario(scenario_set, procedure, i, path, seed) for i, path in enumerate(paths)]


def draw_scenario(scenario_set: ScenarioSet, procedure: Procedure, index: int, path: tuple[str, ...], seed: int) -> Scenario:
    # One RNG per scenario index, never fed by the path: scenario i keeps its variables and
    # persona when n grows and when an edit moves its path.
    rng = random.Random(f"{seed}:{scenario_set.procedure}:{index}")
    variables = {k: (spec.draw(rng) if isinstance(spec, Range) else rng.choice(spec))
                 for k, spec in scenario_set.variables.items()}
    persona = {k: rng.choice(v) for k, v in scenario_set.persona.items()}
    return Scenario(index=index, procedure=procedure.name, variables=variables, persona=persona, path=path,
                    seed=seed)


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
        for path in paths_through(procedure, target, k - have, seed, max_loops):
            extra.append(draw_scenario(scenario_set, procedure, len(base) + len(extra), path, seed))
    return extra


def _passes(path: tuple[str, ...], target: Target) -> bool:
    return target in path if isinstance(target, str) else target in zip(path, path[1:], strict=False)
