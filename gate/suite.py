"""Gate suites: the test specifications a team writes (`test_suites/*.gate.yaml`).

A suite names procedures with their scenario sets, the conditions to run, how to
compile, which models play which role, and the thresholds that make the gate pass.
The pytest plugin turns one suite into tests; `subterra gate` runs them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from compile.settings import CompileSettings
from harness.conditions import CONDITIONS, ConditionName
from harness.errors import SpecError, SpecErrors
from harness.judges.rubric import Criterion
from harness.llm.choice import choose
from harness.llm.errors import ConfigurationError
from harness.runner import DEFAULT_MAX_TURNS
from harness.spec_file import Sourced, load_spec

MAX_EVAL_N = 10_000          # evaluation scenarios per condition (the paper uses 200)

Condition = ConditionName


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _unique(values: list) -> list:
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"listed more than once: {', '.join(repeated)}")
    return values


def _model_spec(spec: str) -> str:
    from harness.llm.errors import ConfigurationError
    from harness.llm.registry import check_spec

    try:
        check_spec(spec)
    except ConfigurationError as e:
        raise ValueError(str(e)) from None
    return spec


ModelSpec = Annotated[str, AfterValidator(_model_spec)]


def _file_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name):
        raise ValueError(f"{name!r} must be a plain file name (letters, digits, '_', '.', '-'; "
                         "at most 100): it names the report folder")
    return name


# The suite name names its report folder: a plain file name, never a path.
SafeName = Annotated[str, AfterValidator(_file_name)]


class ServedModel(_Strict):
    """A served copy of the procedure's compiled model: the subterranean condition talks to it
    instead of the in-process checkpoint (gate what you serve)."""

    model: ModelSpec = Field(description="openai-compatible:URL:NAME, as `subterra serve` prints it")
    # The exported folder being served (`subterra export`). Given, the gate sends its
    # system_prompt.txt and fails unless it is the model this suite compiles.
    export: Path | None = None

    @model_validator(mode="after")
    def _is_an_endpoint(self) -> ServedModel:
        if not self.model.startswith("openai-compatible:"):
            raise ValueError(f"served.model must be an 'openai-compatible:URL:NAME' endpoint, got {self.model!r}")
        return self


class ProcedureEntry(_Strict):
    procedure: Path
    scenarios: Path
    n: int = Field(default=12, ge=1, le=MAX_EVAL_N, description="evaluation scenarios per condition")
    seed: int = 7
    max_turns: int = Field(default=DEFAULT_MAX_TURNS, ge=2, le=1000,
                           description="a conversation still open after this many turns (user and agent) "
                                       "ends with reason turn_cap")
    served: ServedModel | None = None


class Models(_Strict):
    """Which model plays each role. A role may list fallbacks, `"anthropic:claude-sonnet-4-5 |
    offline"`: the first whose API key is set plays it (`harness.llm.choice`), decided when
    the suite loads; `chosen` then says, per role, what was passed over and why."""

    generator: ModelSpec = "offline"          # writes the synthetic training conversations
    user: ModelSpec = "offline"               # the simulated customer
    frontier: ModelSpec = "offline"           # langgraph and in_context conditions
    base: ModelSpec = "local:smollm2-135m"    # the orchestrated condition (the model before compiling)
    judges: Annotated[list[ModelSpec], AfterValidator(_unique)] = Field(default_factory=lambda: ["offline"],
                                                                        min_length=1)
    # Filled on load, never written by hand: role -> how its model was chosen (fallbacks only).
    chosen: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _choose(self) -> Models:
        try:
            return self._chosen()
        except ConfigurationError as e:      # an unknown provider: the suite's error, with its line
            raise ValueError(str(e)) from None

    def _chosen(self) -> Models:
        for role in ("generator", "user", "frontier", "base"):
            value = getattr(self, role)
            if "|" in value:
                choice = choose(value)
                setattr(self, role, choice.spec)
                self.chosen[role] = choice.note
        judges, notes = [], []
        for value in self.judges:
            choice = choose(value)
            notes += [choice.note] if "|" in value else []
            if choice.spec not in judges:       # two judges falling back to one stand-in: judge once
                judges.append(choice.spec)
        self.judges = judges
        if notes:
            self.chosen["judges"] = "; ".join(notes)
        return self

    def specs(self) -> dict[str, str]:
        """Each role's model spec ("judge 1", "judge 2", ... for the judges)."""
        roles = {r: getattr(self, r) for r in ("generator", "user", "frontier", "base")}
        return roles | {f"judge {i}": j for i, j in enumerate(self.judges, 1)}


class _OneCondition(_Strict):
    condition: Condition

    @property
    def conditions(self) -> tuple[str, ...]:
        return (self.condition,)


class MeanThreshold(_OneCondition):
    criterion: Criterion
    min_mean: float = Field(ge=1, le=5)


class FailureThreshold(_OneCondition):
    max_failure_rate: float = Field(ge=0, le=1)


class ActionThreshold(_OneCondition):
    """What the agent did to the backend (procedures with tools): the share of conversations
    whose backend ends as the path implies, and the share of intended tool steps called with
    the right tool, arguments and point."""

    min_end_state_match: float | None = Field(default=None, ge=0, le=1)
    min_tool_call_accuracy: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _some_bound(self) -> ActionThreshold:
        if self.min_end_state_match is None and self.min_tool_call_accuracy is None:
            raise ValueError("an actions threshold needs min_end_state_match or min_tool_call_accuracy")
        return self


class NonInferiority(_Strict):
    """Lower CI bound of mean(a) − mean(b) on `criterion` must exceed `margin`."""

    a: Condition
    b: Condition
    criterion: Criterion
    margin: float = Field(le=0)

    @property
    def conditions(self) -> tuple[str, ...]:
        return (self.a, self.b)


class PerConversation(_Strict):
    conditions: list[Condition] = Field(default_factory=lambda: ["subterranean"])
    terminal_reached: bool = True
    valid_trace: bool = True


class Thresholds(_Strict):
    per_conversation: PerConversation = Field(default_factory=PerConversation)
    means: list[MeanThreshold] = Field(default_factory=list)
    failure_rates: list[FailureThreshold] = Field(default_factory=list)
    non_inferiority: list[NonInferiority] = Field(default_factory=list)
    actions: list[ActionThreshold] = Field(default_factory=list)


class Regression(_Strict):
    """How `--against REF` compares the edited procedure with its version at REF (see
    gate/compare.py): one check per condition × criterion, failing when the paired
    bootstrap CI of Δ = after − before reaches the margin."""

    margin: float = Field(default=-0.25, le=0, description="how far a mean may drop and still pass")
    criteria: list[Criterion] = Field(default_factory=lambda: ["task_success", "information_accuracy"],
                                      min_length=1)
    conditions: list[Condition] | None = Field(default=None, description="default: the suite's conditions")
    k: int = Field(default=2, ge=0, description="scenarios through every node and edge the edit added or changed")


class GateSuite(Sourced, _Strict):
    name: SafeName
    procedures: list[ProcedureEntry] = Field(min_length=1)
    conditions: Annotated[list[Condition], AfterValidator(_unique)] = Field(
        default_factory=lambda: list(CONDITIONS), min_length=1)
    compile: CompileSettings = Field(default_factory=CompileSettings)
    models: Models = Field(default_factory=Models)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    regression: Regression = Field(default_factory=Regression)

    @model_validator(mode="after")
    def _conditions_exist(self) -> GateSuite:
        used = {t.condition for t in self.thresholds.means + self.thresholds.failure_rates}
        used |= {c for t in self.thresholds.non_inferiority for c in (t.a, t.b)}
        used |= set(self.regression.conditions or ())
        missing = used - set(self.conditions)
        if missing:
            raise ValueError(f"thresholds name conditions the suite does not run: {', '.join(sorted(missing))}")
        return self

    @property
    def regression_conditions(self) -> list[str]:
        return list(self.regression.conditions or self.conditions)

    @property
    def offline(self) -> bool:
        """Whether an offline stand-in plays any role (scores are then labelled offline)."""
        m = self.models
        return any(s.split(":")[0] == "offline" for s in [m.generator, m.user, m.frontier, *m.judges])

    def resolve(self, path: Path) -> Path:
        """Paths in a suite are relative to the suite file."""
        origin = self.source.origin if self.source else None
        base = origin.parent if origin else Path.cwd()
        return path if path.is_absolute() else (base / path)


def load_suite(path: str | Path) -> GateSuite:
    """Load a gate suite and check everything it refers to, so a suite that loads will
    collect and run: procedure and scenario files (loaded and cross-checked), the recipe
    with the suite's overrides, model specs. Raises `SpecErrors` (file:line)."""
    suite = load_spec(path, GateSuite, "a gate suite (name, procedures, …)")
    errors = check_references(suite)
    if errors:
        raise SpecErrors(errors)
    return suite


def check_references(suite: GateSuite) -> list[SpecError]:
    """Problems in the files and recipe a suite names. A file that cannot be read is blamed
    on the suite's line that names it; problems inside a file point into that file."""
    from harness.procedure import load_procedure
    from harness.scenarios import check_against, load_scenario_set

    errors: list[SpecError] = []
    for i, entry in enumerate(suite.procedures):
        loaded: dict[str, Any] = {}
        for key, load in (("procedure", load_procedure), ("scenarios", load_scenario_set)):
            try:
                loaded[key] = load(suite.resolve(getattr(entry, key)))
            except SpecErrors as e:
                errors.extend(_blame(suite, f"{key} {err.file}: {err.message}", ("procedures", i, key))
                              if err.line is None else err for err in e.errors)
        if len(loaded) == 2:
            try:
                check_against(loaded["scenarios"], loaded["procedure"])
            except SpecErrors as e:
                errors.extend(e.errors)
    return errors + _recipe_errors(suite)


def _blame(suite: GateSuite, message: str, path: tuple) -> SpecError:
    return suite.source.error(message, path) if suite.source else SpecError(message)


def _recipe_errors(suite: GateSuite) -> list[SpecError]:
    """The recipe must load, and load again with the suite's overrides; errors the overrides
    cause are blamed on the suite's `overrides` lines, not on the recipe file."""
    from compile.recipe import load_recipe

    spec = suite.compile
    try:
        load_recipe(spec.recipe)
    except SpecErrors as e:        # the recipe file loads but is wrong: its own lines
        return [_blame(suite, f"recipe {err}", ("compile", "recipe")) if err.line is None else err
                for err in e.errors]
    except SpecError as e:         # no such recipe
        return [_blame(suite, e.message, ("compile", "recipe"))]
    try:
        load_recipe(spec.recipe, spec.overrides)
    except SpecErrors as e:
        def key_of(message: str) -> tuple:
            keys = [k for k in spec.overrides if f"'{k.split('.')[-1]}'" in message or message.startswith(k)]
            return (keys[0],) if keys else ()
        return [_blame(suite, f"override of recipe '{spec.recipe}': {err.message}",
                       ("compile", "overrides") + key_of(err.message)) for err in e.errors]
    return []


def suite_at_ref(path: Path, ref: str) -> GateSuite | None:
    """The suite file as it was at git `ref` (its recipe and models), or None when it was
    not there or does not load there."""
    from gate.regression import file_at_ref

    text = file_at_ref(Path(path), ref)
    if text is None:
        return None
    try:
        suite = load_spec(f"{ref}:{path}", GateSuite, "a gate suite (name, procedures, …)", text)
    except SpecErrors:
        return None
    if suite.source is not None:
        suite.source.origin = Path(path).resolve()      # its paths resolve as the current file's do
    return suite
