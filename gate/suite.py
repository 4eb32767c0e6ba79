"""Gate suites: the test specifications a team writes (`test_suites/*.gate.yaml`).

A suite names procedures with their scenario sets, the conditions to run, how to
compile, which models play which role, and the thresholds that make the gate pass.
The pytest plugin turns one suite into tests; `subterra gate` runs them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    model_validator,
)

from compile.settings import CompileSettings
from harness.conditions import CONDITIONS, ConditionName
from harness.errors import MAX_FILE_SHOWN, SpecError, SpecErrors, shown
from harness.judges.rubric import Criterion
from harness.llm.choice import choose
from harness.llm.errors import ConfigurationError
from harness.runner import DEFAULT_MAX_TURNS
from harness.spec_file import Sourced, load_spec

MAX_EVAL_N = 10_000          # evaluation scenarios per condition (the paper uses 200)
MAX_TRIALS = 100
TRIALS_TEMPERATURE = 0.7     # local models' sampling temperature when trials > 1 and none is set

Condition = ConditionName


class _Strict(BaseModel):
    # A suite is written by hand: no unknown keys, numbers finite (a margin of -.inf is a check
    # that can never fail), and the numeric fields take numbers only (`n: true` is not 1).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


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
    n: StrictInt = Field(default=12, ge=1, le=MAX_EVAL_N, description="evaluation scenarios per condition")
    seed: StrictInt = 7
    max_turns: StrictInt = Field(default=DEFAULT_MAX_TURNS, ge=2, le=1000,
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
    min_mean: StrictFloat = Field(ge=1, le=5)


class FailureThreshold(_OneCondition):
    max_failure_rate: StrictFloat = Field(ge=0, le=1)


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
    margin: StrictFloat = Field(le=0)

    @property
    def conditions(self) -> tuple[str, ...]:
        return (self.a, self.b)


class PerConversation(_Strict):
    conditions: list[Condition] = Field(default_factory=lambda: ["subterranean"])
    terminal_reached: bool = True
    valid_trace: bool = True


class PassKThreshold(_OneCondition):
    """pass^k (the share of scenarios passed in all of k trials, tau-bench's estimator) must
    reach `min`; the suite must run at least k trials."""

    k: int = Field(ge=1, le=100)
    min: float = Field(ge=0, le=1)


class Thresholds(_Strict):
    per_conversation: PerConversation = Field(default_factory=PerConversation)
    means: list[MeanThreshold] = Field(default_factory=list)
    failure_rates: list[FailureThreshold] = Field(default_factory=list)
    non_inferiority: list[NonInferiority] = Field(default_factory=list)
    pass_k: list[PassKThreshold] = Field(default_factory=list)
    actions: list[ActionThreshold] = Field(default_factory=list)


class Regression(_Strict):
    """How `--against REF` compares the edited procedure with its version at REF (see
    gate/against/comparison.py and gate/verdicts.py): one check per condition × criterion, failing when
    the CI of Δ = after − before shows a drop (or, with `inconclusive: fail`, when it decides
    nothing)."""

    margin: StrictFloat = Field(default=-0.25, le=0, description="how far a mean may drop and still pass")
    inconclusive: Literal["pass", "fail"] = Field(
        default="pass", description="what an inconclusive verdict does to the gate (it is always listed)")
    criteria: list[Criterion] = Field(default_factory=lambda: ["task_success", "information_accuracy"],
                                      min_length=1)
    conditions: list[Condition] | None = Field(default=None, description="default: the suite's conditions")
    k: StrictInt = Field(default=2, ge=0, description="scenarios through every node and edge the edit added or changed")


class GateSuite(Sourced, _Strict):
    name: SafeName
    procedures: list[ProcedureEntry] = Field(min_length=1)
    conditions: Annotated[list[Condition], AfterValidator(_unique)] = Field(
        default_factory=lambda: list(CONDITIONS), min_length=1)
    compile: CompileSettings = Field(default_factory=CompileSettings)
    models: Models = Field(default_factory=Models)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    regression: Regression = Field(default_factory=Regression)
    trials: int = Field(default=1, ge=1, le=MAX_TRIALS,
                        description="each scenario runs this many times per condition, sampled independently")
    temperature: float | None = Field(
        default=None, ge=0, le=2, description="what local models sample the conversations at; "
        f"default: 0 (greedy) with one trial, {TRIALS_TEMPERATURE} with several")
    # A conversation a simulated-user fault spoiled (harness.simulator_faults) runs again, as a
    # fresh trial, at most this many times; the spoiled one stays listed.
    rerun_simulator_faults: int = Field(default=0, ge=0, le=5)

    @property
    def sampling_temperature(self) -> float:
        if self.temperature is not None:
            return self.temperature
        return TRIALS_TEMPERATURE if self.trials > 1 else 0.0

    @model_validator(mode="after")
    def _conditions_exist(self) -> GateSuite:
        used = {t.condition for t in self.thresholds.means + self.thresholds.failure_rates + self.thresholds.pass_k}
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
    on the suite's line that names it; a problem inside a file points into that file and says
    which suite line named it. Each file is loaded, and each pair cross-checked, once however
    many entries name it (a suite of 10,000 entries over one procedure loads it once)."""
    from harness.procedure import load_procedure
    from harness.scenarios import check_against, load_scenario_set

    errors: list[SpecError] = []
    loaded: dict[tuple[str, Path], Any] = {}           # (key, resolved file) -> model, or None if broken
    checked: set[tuple[Path, Path]] = set()
    entries: dict[tuple, int] = {}
    canonical: dict[Path, Path] = {}                   # as written -> resolved (resolving is a syscall per part)
    for i, entry in enumerate(suite.procedures):
        files = {key: canonical.get(written) or canonical.setdefault(written, _canonical(suite.resolve(written)))
                 for key, written in (("procedure", entry.procedure), ("scenarios", entry.scenarios))}
        same = (files["procedure"], files["scenarios"], entry.model_dump_json(exclude={"procedure", "scenarios"}))
        if same in entries:
            errors.append(_blame(suite, f"the same entry as procedures[{entries[same]}] (line "
                                 f"{_line(suite, ('procedures', entries[same]))}): listed twice, it would run "
                                 "twice", ("procedures", i)))
            continue
        entries[same] = i
        for key, load in (("procedure", load_procedure), ("scenarios", load_scenario_set)):
            if (key, files[key]) in loaded:
                continue
            try:
                loaded[key, files[key]] = load(suite.resolve(getattr(entry, key)))
            except SpecErrors as e:
                loaded[key, files[key]] = None
                errors.extend(_named_by(suite, err, key, ("procedures", i, key)) for err in e.errors)
        procedure, scenarios = loaded["procedure", files["procedure"]], loaded["scenarios", files["scenarios"]]
        pair = (files["procedure"], files["scenarios"])
        if procedure is not None and scenarios is not None and pair not in checked:
            checked.add(pair)
            try:
                check_against(scenarios, procedure)
            except SpecErrors as e:
                errors.extend(_named_by(suite, err, "procedure and scenarios", ("procedures", i))
                              for err in e.errors)
    return errors + _recipe_errors(suite)


def _canonical(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):      # a symlink loop: the file's own load reports it
        return path


def _line(suite: GateSuite, path: tuple) -> int | None:
    return suite.source.line(path) if suite.source else None


def _named_by(suite: GateSuite, err: SpecError, key: str, path: tuple) -> SpecError:
    """`err`, found in a file the suite names, also pointing at the suite line naming it."""
    if err.line is None:         # the file cannot be read at all: the suite's line is the place
        return _blame(suite, f"{key} {shown(err.file or '', MAX_FILE_SHOWN)}: {err.message}", path)
    if suite.source is None:
        return err
    where = f"{shown(suite.source.file, MAX_FILE_SHOWN)}:{_line(suite, path)}"
    return SpecError(f"{err.message} (in the {key} named at {where})", file=err.file, line=err.line, node=err.node)


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

