"""A gate run's settings: command-line flags and ini keys, parsed once into a typed model.

Each field is one pytest option `--gate-<field>` and one ini key `gate_<field>` (the suite
files are `--gate-suite` / `gate_suites`); `subterra gate` builds the same model from its
own flags and hands it to pytest as those options. Settings win over what the suite files say.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gate.suite import Condition, GateSuite
from harness.spec_file import validate_spec


class GateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    suites: list[Path] = Field(default_factory=list,
                               description="gate suite files (*.gate.yaml); default: test_suites/*.gate.yaml")
    conditions: list[Condition] | None = Field(None, description="only these conditions (comma-separated)")
    n: int | None = Field(None, ge=1, description="evaluation scenarios per condition (overrides the suites)")
    trials: int | None = Field(None, ge=1, description="trials per scenario and condition (overrides the suites)")
    recipe: str | None = Field(None, description="compile recipe (overrides the suites), e.g. tiny-cpu")
    generator: str | None = Field(None, description="data-generation model, e.g. anthropic:claude-sonnet-4-5")
    user_model: str | None = Field(None, description="user-simulator model")
    frontier: str | None = Field(None, description="frontier model of the langgraph and in_context conditions")
    judges: list[str] | None = Field(None, description="judge models (comma-separated)")
    cache: Literal["record", "replay", "off"] | None = Field(
        None, description="LLM cache mode: record (default), replay, off")
    report_dir: Path | None = Field(None, description="where reports are written (default: reports)")
    against: str | None = Field(None, description="git ref: compare each procedure with its version there")

    @field_validator("suites", "conditions", "judges", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @staticmethod
    def option(field: str) -> str:
        """The pytest option of a field."""
        return "--gate-suite" if field == "suites" else "--gate-" + field.replace("_", "-")

    @staticmethod
    def ini(field: str) -> str:
        """The ini key of a field (also the option's dest)."""
        return f"gate_{field}"

    @classmethod
    def parse(cls, values: dict[str, object]) -> GateSettings:
        """From raw option / ini values by field name (empty or None = not set); a bad value
        raises ValueError naming the option."""
        given = {name: value for name, value in values.items() if value}
        try:
            return cls.model_validate(given)
        except ValidationError as e:
            err = e.errors()[0]
            field = str(err["loc"][0]) if err["loc"] else ""
            raise ValueError(f"{cls.option(field)} {given.get(field)!r}: {err['msg']}") from None

    def pytest_args(self) -> list[str]:
        """The same settings as pytest options (what `subterra gate` passes on)."""
        args = []
        for field, value in self.model_dump(exclude_defaults=True).items():
            shown = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            args += [self.option(field), shown]
        return args

    def suite_paths(self, root: Path) -> list[Path]:
        return self.suites or sorted((root / "test_suites").glob("*.gate.yaml"))

    def apply(self, suite: GateSuite) -> GateSuite:
        """The suite with these settings in place of its own."""
        data = suite.model_dump()
        if self.conditions:
            data["conditions"] = list(self.conditions)
            keep = set(self.conditions)
            th = data["thresholds"]
            th["means"] = [t for t in th["means"] if t["condition"] in keep]
            th["failure_rates"] = [t for t in th["failure_rates"] if t["condition"] in keep]
            th["non_inferiority"] = [t for t in th["non_inferiority"] if {t["a"], t["b"]} <= keep]
            th["per_conversation"]["conditions"] = [c for c in th["per_conversation"]["conditions"] if c in keep]
            regression = data["regression"]
            regression["conditions"] = [c for c in regression["conditions"] or [] if c in keep] or None
        if self.n:
            for entry in data["procedures"]:
                entry["n"] = self.n
        if self.trials:
            data["trials"] = self.trials
        if self.recipe and self.recipe != data["compile"]["recipe"]:
            # The suite's overrides were written for its own recipe.
            data["compile"].update(recipe=self.recipe, overrides={})
        for field, role in (("generator", "generator"), ("user_model", "user"), ("frontier", "frontier")):
            if getattr(self, field):
                data["models"][role] = getattr(self, field)
        if self.judges:
            data["models"]["judges"] = list(self.judges)
        # Checked as the suite is: an option out of bounds (e.g. --gate-n) is a one-line error.
        return validate_spec(GateSuite, data, suite.source) if suite.source else GateSuite.model_validate(data)
