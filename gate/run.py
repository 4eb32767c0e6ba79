"""One gate run: its suites' procedures, each with everything its tests share.

A `ProcedureRun` is one procedure of one suite: its files (now, or at a git ref), its
sampled scenarios, the fingerprint its results are keyed by, its role models and its
results store. A `GateRun` holds all of them for one pytest session, loaded lazily, and
the compiled model of each (from the compile store, built once if missing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate.against.git_ref import VersionAtRef, file_at_ref, suite_at_ref
from gate.against.reuse import Edit
from gate.result_store import ConversationResult, ResultStore
from gate.settings import GateSettings
from gate.suite import GateSuite, ProcedureEntry, load_suite
from harness.errors import SpecErrors
from harness.files import digest, runs_root
from harness.procedure import Procedure, load_procedure
from harness.procedure.diff import diff_procedures, touched_nodes
from harness.procedure.paths import is_walk
from harness.scenarios import (
    Scenario,
    ScenarioSet,
    draw_scenario,
    exercising_scenarios,
    load_scenario_set,
    sample_scenarios,
)
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
    against: str | None = None          # git ref to compare with (and reuse conversations from)
    at_ref: VersionAtRef | None = None  # set when this run is that earlier version
    ref_suite: GateSuite | None = None  # the suite as it was at `against`, when it loads there
    paired: tuple[Scenario, ...] = ()   # an earlier version's share of the edit's scenarios
    occurrence: int = 1                 # this is the suite's n-th entry of its procedure (other seeds, n)

    @property
    def key(self) -> str:
        return f"{self.suite.name}:{self.procedure.name}" + (f"#{self.occurrence}" if self.occurrence > 1 else "")

    def _text(self, path: Path) -> str:
        if self.at_ref is not None:
            return self.at_ref.procedure if path == self.entry.procedure else self.at_ref.scenarios
        return read_text(self.suite.resolve(path))     # bounded, regular files only

    def _label(self, path: Path) -> str:
        resolved = self.suite.resolve(path)
        return f"{self.at_ref.ref}:{resolved}" if self.at_ref is not None else str(resolved)

    @cached_property
    def procedure(self) -> Procedure:
        return _loaded(load_procedure, self._label(self.entry.procedure), self._text(self.entry.procedure))

    @cached_property
    def scenario_set(self) -> ScenarioSet:
        return _loaded(load_scenario_set, self._label(self.entry.scenarios), self._text(self.entry.scenarios))

    @cached_property
    def base_scenarios(self) -> list[Scenario]:
        return sample_scenarios(self.scenario_set, self.procedure, self.entry.n, self.entry.seed)

    @cached_property
    def edit_scenarios(self) -> list[Scenario]:
        """With `against`: scenarios through what the edit added or changed, beyond the base set
        (the suite's `regression.k` through each)."""
        if self.at_ref is not None:
            return list(self.paired)
        if self.previous is None:
            return []
        diff = diff_procedures(self.previous[0].procedure, self.procedure)
        return exercising_scenarios(self.scenario_set, self.procedure, self.base_scenarios, diff.edited(),
                                    self.suite.regression.k, self.entry.seed)

    @cached_property
    def scenarios(self) -> list[Scenario]:
        return self.base_scenarios + self.edit_scenarios

    def result_groups(self) -> list[tuple[ResultStore, list[Scenario]]]:
        """Where each scenario's results live: the base set under the run's fingerprint (so a
        later `--against` finds them), the edit's own scenarios in a folder of their own."""
        groups = [(self.results, self.trials_of(self.base_scenarios))]
        if self.edit_scenarios:
            folder = digest([s.key() for s in self.edit_scenarios])[:12]
            groups.append((ResultStore(self.results.root / f"edit-{folder}"), self.trials_of(self.edit_scenarios)))
        return groups

    def trials_of(self, scenarios: list[Scenario]) -> list[Scenario]:
        """Each scenario once per trial (the suite's `trials`), at the suite's sampling temperature."""
        temperature = self.suite.sampling_temperature
        return [s.of_trial(t, temperature) for s in scenarios for t in range(self.suite.trials)]

    def stored_results(self, condition: str) -> list[ConversationResult]:
        """This run's results of `condition` found in the results store, in scenario order."""
        found = (store.get(self.procedure.name, condition, s.index, s.trial) for store, group in self.result_groups()
                 for s in group)
        return [r for r in found if r is not None]

    def stage_seconds(self, condition: str) -> float | None:
        """How long running `condition`'s conversations (and judging them) took, when it ran."""
        timed = [t for store, _ in self.result_groups() if (t := store.seconds(self.procedure.name, condition)) is not None]
        return sum(timed) if timed else None

    @cached_property
    def fingerprint(self) -> str:
        """Everything that determines this procedure's results (not the thresholds)."""
        from compile.recipe import load_recipe
        from harness import __version__

        files = [self._text(p) for p in (self.entry.procedure, self.entry.scenarios)]
        # The recipe's content, not only its name: editing a recipe file retrains the model.
        recipe = load_recipe(self.suite.compile.recipe, self.suite.compile.overrides).model_dump(mode="json")
        # Sampling is named only when it is not greedy, so single-trial fingerprints stay as they were.
        sampling = [{"temperature": self.suite.sampling_temperature}] if self.suite.sampling_temperature else []
        return digest([files, self.entry.model_dump(mode="json"), self.suite.compile.model_dump(mode="json"),
                       recipe, self.suite.models.model_dump(mode="json"), __version__, *sampling])

    @cached_property
    def models(self) -> RoleModels:
        """Built on first use, once per process (local weights load lazily)."""
        from gate.role_models import build_models

        return build_models(self.suite.models, self.cache_mode)

    def compile(self) -> CompiledModel:
        """This procedure's compiled model, from the compile store or compiled now."""
        from gate.compiling import compile_for_gate

        return compile_for_gate(self.key, self.procedure, self.scenario_set, self.suite.compile, self.root,
                                generator=self.suite.models.generator)

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
        # Before and after run the same trials at the same temperature, so (scenario, trial) pairs.
        suite = (self.ref_suite or self.suite).model_copy(
            update={"trials": self.suite.trials, "temperature": self.suite.temperature})
        old = ProcedureRun(suite, self.entry, self.root, self.cache_mode,
                           at_ref=VersionAtRef(self.against, *texts))  # type: ignore[arg-type]
        try:
            touched = touched_nodes(old.procedure, self.procedure)
        except SpecErrors:
            return None
        return old, Edit(self.against, touched)

    @cached_property
    def before(self) -> ProcedureRun | None:
        """The version at `against` as the regression check runs it: its own procedure,
        scenarios and suite (recipe, models), on the same scenario indices as this run,
        including the edit's scenarios whose path exists in it."""
        if self.previous is None:
            return None
        old = self.previous[0]
        paired = tuple(draw_scenario(old.scenario_set, old.procedure, s.index, s.path, s.seed)
                       for s in self.edit_scenarios if is_walk(old.procedure, s.path))
        return replace(old, paired=paired)


@lru_cache(maxsize=256)
def _loaded(load: Callable[..., Any], label: str, text: str) -> Any:
    """One model per file content: the entries of a suite that name one file share it (and
    its checks), so a suite of 10,000 entries does not load it 10,000 times."""
    return load(label, text=text)


@dataclass
class GateRun:
    """All suites of one pytest session, loaded lazily."""

    settings: GateSettings
    root: Path
    _compiled: dict[str, CompiledModel] = field(default_factory=dict)

    @cached_property
    def procedures(self) -> list[ProcedureRun]:
        runs = []
        against = self.settings.against
        for path in self.settings.suite_paths(self.root):
            suite = self.settings.apply(load_suite(path))
            at_ref = suite_at_ref(path, against) if against else None
            ref_suite = self.settings.apply(at_ref) if at_ref else None
            seen: dict[str, int] = {}
            for entry in suite.procedures:
                run = ProcedureRun(suite, entry, self.root, self.settings.cache, against=against,
                                   ref_suite=ref_suite)
                # A procedure listed again (another seed or n) gets keys and test ids of its own.
                run.occurrence = seen[run.procedure.name] = seen.get(run.procedure.name, 0) + 1
                runs.append(run)
        return runs

    @cached_property
    def _by_key(self) -> dict[str, ProcedureRun]:
        return {p.key: p for p in self.procedures}

    def procedure(self, key: str) -> ProcedureRun:
        return self._by_key[key]

    def compiled(self, key: str) -> CompiledModel:
        """The compiled model for a procedure: from the store, built once if missing."""
        if key not in self._compiled:
            self._compiled[key] = self.procedure(key).compile()
        return self._compiled[key]
