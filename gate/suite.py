"""Gate suites: the test specifications a team writes (`test_suites/*.gate.yaml`).

A suite names procedures with their scenario sets, the conditions to run, how to
compile, which models play which role, and the thresholds that make the gate pass.
The pytest plugin turns one suite into tests; `subterra gate` runs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from compile.settings import CompileSettings
from harness.errors import SpecError, SpecErrors
from harness.procedure.load import pydantic_errors
from harness.yaml_source import load_yaml

CONDITIONS = ("subterranean", "orchestrated", "langgraph", "in_context")
Condition = Literal["subterranean", "orchestrated", "langgraph", "in_context"]
Criterion = Literal["task_success", "information_accuracy", "consistency", "graceful_handling",
                    "naturalness"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProcedureEntry(_Strict):
    procedure: Path
    scenarios: Path
    n: int = Field(default=12, ge=1, description="evaluation scenarios per condition")
    seed: int = 7


class Models(_Strict):
    generator: str = "offline"          # writes the synthetic training conversations
    user: str = "offline"               # the simulated customer
    frontier: str = "offline"           # langgraph and in_context conditions
    base: str = "local:smollm2-135m"    # the orchestrated condition (the model before compiling)
    judges: list[str] = Field(default_factory=lambda: ["offline"], min_length=1)


class MeanThreshold(_Strict):
    condition: Condition
    criterion: Criterion
    min_mean: float = Field(ge=1, le=5)


class FailureThreshold(_Strict):
    condition: Condition
    max_failure_rate: float = Field(ge=0, le=1)


class NonInferiority(_Strict):
    """Lower CI bound of mean(a) − mean(b) on `criterion` must exceed `margin`."""

    a: Condition
    b: Condition
    criterion: Criterion
    margin: float = Field(le=0)


class PerConversation(_Strict):
    conditions: list[Condition] = Field(default_factory=lambda: ["subterranean"])
    terminal_reached: bool = True
    valid_trace: bool = True


class Thresholds(_Strict):
    per_conversation: PerConversation = Field(default_factory=PerConversation)
    means: list[MeanThreshold] = Field(default_factory=list)
    failure_rates: list[FailureThreshold] = Field(default_factory=list)
    non_inferiority: list[NonInferiority] = Field(default_factory=list)


class Regression(_Strict):
    """How `--against REF` compares the edited procedure with its version at REF (see
    harness/compare.py): one check per condition × criterion, failing when the paired
    bootstrap CI of Δ = after − before reaches the margin."""

    margin: float = Field(default=-0.25, le=0, description="how far a mean may drop and still pass")
    criteria: list[Criterion] = Field(default_factory=lambda: ["task_success", "information_accuracy"],
                                      min_length=1)
    conditions: list[Condition] | None = Field(default=None, description="default: the suite's conditions")
    k: int = Field(default=2, ge=0, description="scenarios through every node and edge the edit added or changed")


class GateSuite(_Strict):
    name: str
    procedures: list[ProcedureEntry] = Field(min_length=1)
    conditions: list[Condition] = Field(default_factory=lambda: list(CONDITIONS), min_length=1)
    compile: CompileSettings = Field(default_factory=CompileSettings)
    models: Models = Field(default_factory=Models)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    regression: Regression = Field(default_factory=Regression)
    _file: Path | None = None

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
        base = self._file.parent if self._file else Path.cwd()
        return path if path.is_absolute() else (base / path)


def load_suite(path: str | Path, text: str | None = None) -> GateSuite:
    try:
        data, source = load_yaml(path, text)
    except SpecError as e:
        raise SpecErrors([e]) from None
    if not isinstance(data, dict):
        raise SpecErrors([source.error("a gate suite must be a mapping with name, procedures, …")])
    try:
        suite = GateSuite.model_validate(data)
    except ValidationError as e:
        raise SpecErrors(pydantic_errors(e, source, "gate suite")) from None
    suite._file = Path(path).resolve()
    return suite


def suite_at_ref(path: Path, ref: str) -> GateSuite | None:
    """The suite file as it was at git `ref` (its recipe and models), or None when it was
    not there or does not load there."""
    from gate.regression import file_at_ref

    text = file_at_ref(Path(path), ref)
    if text is None:
        return None
    try:
        suite = load_suite(f"{ref}:{path}", text)
    except SpecErrors:
        return None
    suite._file = Path(path).resolve()      # its paths resolve as the current file's do
    return suite
