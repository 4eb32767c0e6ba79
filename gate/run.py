"""One gate run: its suites' procedures, each with everything its tests share.

A `ProcedureRun` is one procedure of one suite: its files (now, or at a git ref), its
sampled scenarios, the fingerprint its results are keyed by, its role models and its
results store. A `GateRun` holds all of them for one pytest session, loaded lazily, and
the compiled model of each (from the compile store, built once if missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from gate.regression import Edit, VersionAtRef, file_at_ref, touched_nodes
from gate.results import ResultStore
from gate.settings import GateSettings
from gate.suite import GateSuite, ProcedureEntry, load_suite
from harness.errors import SpecErrors
from harness.files import digest, runs_root
from harness.procedure import Procedure, load_procedure
from harness.scenarios import Scenario, ScenarioSet, load_scenario_set, sample_scenarios
from harness.yaml_source import read_text

if TYPE_CHECKING:
    from compile.pipeline import CompiledModel
    from gate.role_models import RoleModels



@dataclass
class ProcedureRun:
    """One procedure of one suite, with everything its tests share."""

    suite: GateSuite
    entry: ProcedureEntry
    root: Path
    cache_mode: str | None = None       # LLM record/replay mode for network models
    against: str | None = None          # git ref whose unaffected conversations may be reused
    at_ref: VersionAtRef | None = None  # set when this run is that earlier version

    @property
    def key(self) -> str:
        return f"{self.suite.name}:{self.procedure.name}"

    def _text(self, path: Path) -> str:
        if self.at_ref is not None:
            return self.at_ref.procedure if path == self.entry.procedure else self.at_ref.scenarios
        return read_text(self.suite.resolve(path))     # bounded, regular files only

    def _label(self, path: Path) -> str:
        resolved = self.suite.resolve(path)
        return f"{self.at_ref.ref}:{resolved}" if self.at_ref is not None else str(resolved)

    @cached_property
    def procedure(self) -> Procedure:
        return load_procedure(self._label(self.entry.procedure), text=self._text(self.entry.procedure))

    @cached_property
    def scenario_set(self) -> ScenarioSet:
        return load_scenario_set(self._label(self.entry.scenarios), text=self._text(self.entry.scenarios))

    @cached_property
    def scenarios(self) -> list[Scenario]:
        return sample_scenarios(self.scenario_set, self.procedure, self.entry.n, self.entry.seed)

    @cached_property
    def fingerprint(self) -> str:
        """Everything that determines this procedure's results (not the thresholds)."""
        from compile.recipe import load_recipe
        from harness import __version__

        files = [self._text(p) for p in (self.entry.procedure, self.entry.scenarios)]
        # The recipe's content, not only its name: editing a recipe file retrains the model.
        recipe = load_recipe(self.suite.compile.recipe, self.suite.compile.overrides).model_dump(mode="json")
        return digest([files, self.entry.model_dump(mode="json"), self.suite.compile.model_dump(mode="json"),
                       recipe, self.suite.models.model_dump(mode="json"), __version__])

    @cached_property
    def models(self) -> RoleModels:
        """Built on first use, once per process (local weights load lazily)."""
        from gate.role_models import build_models

        return build_models(self.suite.models, self.cache_mode)

    @cached_property
    def results(self) -> ResultStore:
        return ResultStore(runs_root(self.root) / self.fingerprint[:16])

    @cached_property
    def previous(self) -> tuple[ProcedureRun, Edit] | None:
        """The version at `against` and what changed since, if it existed and loads."""
        if self.against is None:
            return None
        texts = [file_at_ref(self.suite.resolve(p), self.against)
                 for p in (self.entry.procedure, self.entry.scenarios)]
        if None in texts:
            return None
        old = ProcedureRun(self.suite, self.entry, self.root, self.cache_mode,
                           at_ref=VersionAtRef(self.against, *texts))  # type: ignore[arg-type]
        try:
            touched = touched_nodes(old.procedure, self.procedure)
        except SpecErrors:
            return None
        return old, Edit(self.against, touched)


@dataclass
class GateRun:
    """All suites of one pytest session, loaded lazily."""

    settings: GateSettings
    root: Path
    _compiled: dict[str, CompiledModel] = field(default_factory=dict)

    @cached_property
    def procedures(self) -> list[ProcedureRun]:
        runs = []
        for path in self.settings.suite_paths(self.root):
            suite = self.settings.apply(load_suite(path))
            runs.extend(ProcedureRun(suite, entry, self.root, self.settings.cache, against=self.settings.against)
                        for entry in suite.procedures)
        return runs

    def procedure(self, key: str) -> ProcedureRun:
        return next(p for p in self.procedures if p.key == key)

    def compiled(self, key: str) -> CompiledModel:
        """The compiled model for a procedure: from the store, built once if missing."""
        if key not in self._compiled:
            from gate.compiling import compile_for_gate

            self._compiled[key] = compile_for_gate(self.procedure(key))
        return self._compiled[key]
