"""One gate run: suites → cases → conversations, judges and checks → reports.

This is where the parts meet: the compile store gives the compiled model and the trace
judge; the runner plays a condition against the simulated user; the judges score; the
results store shares results between xdist workers; the report is written once at the end.
The pytest plugin only calls into here.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.compare import EditComparison, Version, compare_versions
from harness.conditions import MODEL_ROLE, build_condition
from harness.errors import SpecErrors
from harness.gate import (
    CheckResult,
    check_failure_rate,
    check_mean,
    check_non_inferiority,
    conversation_problems,
)
from harness.judges.llm_judge import judge_transcript
from harness.judges.offline import offline_scores
from harness.llm import ChatModel, get_model, self_hosted_price
from harness.procedure import Procedure, load_procedure
from harness.procedure.diff import diff_procedures
from harness.procedure.paths import is_walk
from harness.regression import Edit, VersionAtRef, file_at_ref, touched_nodes
from harness.results import ConversationResult, ResultStore
from harness.runner import run_conversations
from harness.scenarios import (
    Scenario,
    ScenarioSet,
    draw_scenario,
    exercising_scenarios,
    load_scenario_set,
    sample_scenarios,
)
from harness.simulator import UserSimulator
from harness.suite import GateSuite, ProcedureEntry, load_suite, suite_at_ref
from harness.transcript import Transcript

STATE_DIR = Path(".subterra")
# The paper's self-hosting assumption (§5): an A100 at $2.50/h, ~15K prefill and ~3K decode tok/s.
SELF_HOSTED = self_hosted_price(2.50, 15_000, 3_000)


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


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
    comparison: EditComparison | None = field(default=None, repr=False)   # set by edit_comparison

    @property
    def key(self) -> str:
        return f"{self.suite.name}:{self.procedure.name}"

    def _text(self, path: str) -> str:
        if self.at_ref is not None:
            return self.at_ref.procedure if path == self.entry.procedure else self.at_ref.scenarios
        return self.suite.resolve(path).read_bytes().decode()

    def _label(self, path: str) -> str:
        resolved = self.suite.resolve(path)
        return f"{self.at_ref.ref}:{resolved}" if self.at_ref is not None else str(resolved)

    @cached_property
    def procedure(self) -> Procedure:
        return load_procedure(self._label(self.entry.procedure), text=self._text(self.entry.procedure))

    @cached_property
    def scenario_set(self) -> ScenarioSet:
        return load_scenario_set(self._label(self.entry.scenarios), text=self._text(self.entry.scenarios))

    @cached_property
    def base_scenarios(self) -> list[Scenario]:
        return sample_scenarios(self.scenario_set, self.procedure, self.entry.n, self.entry.seed)

    @cached_property
    def edit_scenarios(self) -> list[Scenario]:
        """With `against`: scenarios through what the edit added or changed, beyond the base set."""
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
        groups = [(self.results, self.base_scenarios)]
        if self.edit_scenarios:
            digest = _digest([s.key() for s in self.edit_scenarios])[:12]
            groups.append((ResultStore(self.results.root / f"edit-{digest}"), self.edit_scenarios))
        return groups

    def stored_results(self, condition: str) -> list[ConversationResult]:
        """This run's results of `condition` found in the results store, in scenario order."""
        found = (store.get(self.procedure.name, condition, s.index) for store, group in self.result_groups()
                 for s in group)
        return [r for r in found if r is not None]

    @cached_property
    def fingerprint(self) -> str:
        """Everything that determines this procedure's results (not the thresholds)."""
        from compile.recipe import load_recipe
        from harness import __version__

        files = [self._text(p) for p in (self.entry.procedure, self.entry.scenarios)]
        # The recipe's content, not only its name: editing a recipe file retrains the model.
        recipe = load_recipe(self.suite.compile.recipe, self.suite.compile.overrides).model_dump(mode="json")
        return _digest(files, self.entry.model_dump(mode="json"), self.suite.compile.model_dump(mode="json"),
                       recipe, self.suite.models.model_dump(mode="json"), __version__)

    @cached_property
    def models(self) -> RoleModels:
        """Built on first use, once per process (local weights load lazily)."""
        return build_models(self)

    @cached_property
    def results(self) -> ResultStore:
        return ResultStore(self.root / STATE_DIR / "runs" / self.fingerprint[:16])

    @cached_property
    def previous(self) -> tuple[ProcedureRun, Edit] | None:
        """The version at `against` and what changed since, if it existed and loads."""
        if self.against is None:
            return None
        texts = [file_at_ref(self.suite.resolve(p), self.against)
                 for p in (self.entry.procedure, self.entry.scenarios)]
        if None in texts:
            return None
        old = ProcedureRun(self.ref_suite or self.suite, self.entry, self.root, self.cache_mode,
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


@dataclass
class GateConversation:
    """A test case: one condition talks to the simulated user of one scenario."""

    run: ProcedureRun
    condition: str
    scenario: Scenario

    @property
    def procedure_key(self) -> str:
        return self.run.key

    @property
    def test_id(self) -> str:
        return f"{self.run.key}/{self.condition}/scenario-{self.scenario.index:03d}"


@dataclass
class GateCheck:
    """A test case: one aggregate threshold over a condition's conversations."""

    run: ProcedureRun
    kind: str          # "mean", "failure_rate", "non_inferiority", "regression"
    spec: Any
    conditions: tuple[str, ...]

    @property
    def procedure_key(self) -> str:
        return self.run.key

    @property
    def test_id(self) -> str:
        criterion = self.spec if isinstance(self.spec, str) else getattr(self.spec, "criterion", None)
        return f"{self.run.key}/{self.kind}/{'-vs-'.join(self.conditions)}" + (f"/{criterion}" if criterion else "")


@dataclass
class GateRun:
    """All suites of one pytest session, loaded lazily."""

    suite_paths: list[Path]
    overrides: dict[str, str | None]
    root: Path
    touched_any: bool = False
    _compiled: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, paths: list[Path], overrides: dict[str, str | None], root: Path) -> GateRun:
        return cls(suite_paths=paths, overrides=overrides, root=root)

    @cached_property
    def procedures(self) -> list[ProcedureRun]:
        runs = []
        against = self.overrides.get("gate_against")
        for path in self.suite_paths:
            suite = apply_overrides(load_suite(path), self.overrides)
            at_ref = suite_at_ref(path, against) if against else None
            ref_suite = apply_overrides(at_ref, self.overrides) if at_ref else None
            runs.extend(ProcedureRun(suite, entry, self.root, self.overrides.get("gate_cache"), against=against,
                                     ref_suite=ref_suite) for entry in suite.procedures)
        return runs

    def procedure(self, key: str) -> ProcedureRun:
        return next(p for p in self.procedures if p.key == key)

    def write_reports(self) -> list[Path]:
        """One report per suite (`<report dir>/<suite name>/index.html` + report.json), from
        the results store: whichever processes ran the conversations, the data is the same."""
        from harness.report import build_procedure_report, build_report, write_report

        report_root = Path(self.overrides.get("gate_report_dir") or self.root / "reports")
        suites: dict[str, list[ProcedureRun]] = {}
        for proc in self.procedures:
            suites.setdefault(proc.suite.name, []).append(proc)
        written = []
        for name, procs in suites.items():
            reports, compile_timings = [], {}
            for proc in procs:
                results = {c: proc.stored_results(c) for c in proc.suite.conditions}
                results = {c: rs for c, rs in results.items() if rs}
                if not results:
                    continue
                compiled = self.compiled(proc.key)
                compile_timings[proc.procedure.name] = compiled.cycle_seconds()
                reports.append(build_procedure_report(
                    proc.procedure, results, compile_info=compiled.info(), changes=proc.comparison,
                    condition_prices={c: SELF_HOSTED for c, role in MODEL_ROLE.items() if role != "frontier"}))
            if reports:
                models = procs[0].suite.models.model_dump()
                models = {k: ", ".join(v) if isinstance(v, list) else v for k, v in models.items()}
                data = build_report(name, reports, models=models, timings={"recompile_cycle_s": compile_timings})
                written.append(write_report(data, report_root / name))
        return written

    def compiled(self, key: str):
        """The compiled model for a procedure: from the store, built once if missing."""
        if key not in self._compiled:
            from compile.pipeline import compile_for_gate

            self._compiled[key] = compile_for_gate(self.procedure(key))
        return self._compiled[key]


def apply_overrides(suite: GateSuite, o: dict[str, str | None]) -> GateSuite:
    """Command-line / ini settings win over what the suite file says."""
    data = suite.model_dump()
    if o.get("gate_conditions"):
        data["conditions"] = [c.strip() for c in o["gate_conditions"].split(",")]
        keep = set(data["conditions"])
        th = data["thresholds"]
        th["means"] = [t for t in th["means"] if t["condition"] in keep]
        th["failure_rates"] = [t for t in th["failure_rates"] if t["condition"] in keep]
        th["non_inferiority"] = [t for t in th["non_inferiority"] if {t["a"], t["b"]} <= keep]
        th["per_conversation"]["conditions"] = [c for c in th["per_conversation"]["conditions"] if c in keep]
        regression = data["regression"]
        regression["conditions"] = [c for c in regression["conditions"] or [] if c in keep] or None
    if o.get("gate_n"):
        for entry in data["procedures"]:
            entry["n"] = int(o["gate_n"])
    if o.get("gate_recipe") and o["gate_recipe"] != data["compile"]["recipe"]:
        # The suite's overrides were written for its own recipe.
        data["compile"].update(recipe=o["gate_recipe"], overrides={})
    for option, key in (("gate_generator", "generator"), ("gate_user_model", "user"),
                        ("gate_frontier", "frontier")):
        if o.get(option):
            data["models"][key] = o[option]
    if o.get("gate_judges"):
        data["models"]["judges"] = [j.strip() for j in o["gate_judges"].split(",")]
    new = GateSuite.model_validate(data)
    new._file = suite._file
    return new


def collect_cases(run: GateRun) -> list[GateConversation | GateCheck]:
    cases: list[GateConversation | GateCheck] = []
    for proc in run.procedures:
        th = proc.suite.thresholds
        for condition in proc.suite.conditions:
            cases.extend(GateConversation(proc, condition, s) for s in proc.scenarios)
        cases.extend(GateCheck(proc, "mean", t, (t.condition,)) for t in th.means)
        cases.extend(GateCheck(proc, "failure_rate", t, (t.condition,)) for t in th.failure_rates)
        cases.extend(GateCheck(proc, "non_inferiority", t, (t.a, t.b)) for t in th.non_inferiority)
        if proc.previous is not None:
            cases.extend(GateCheck(proc, "regression", criterion, (condition,))
                         for condition in proc.suite.regression_conditions
                         for criterion in proc.suite.regression.criteria)
    return cases


# ---- running and judging conversations ----------------------------------------------

@dataclass
class RoleModels:
    """The models one procedure's evaluation uses, built once per process."""

    user: ChatModel
    frontier: ChatModel
    base: ChatModel
    judges: list[ChatModel]
    compiled: dict[str, ChatModel] = field(default_factory=dict)   # by checkpoint spec

    def for_condition(self, condition: str, compiled_spec: str) -> ChatModel:
        role = MODEL_ROLE[condition]
        if role == "compiled":
            if compiled_spec not in self.compiled:
                self.compiled[compiled_spec] = get_model(compiled_spec)
            return self.compiled[compiled_spec]
        return self.frontier if role == "frontier" else self.base


def build_models(proc: ProcedureRun) -> RoleModels:
    m = proc.suite.models
    kw = {"cache": proc.cache_mode} if proc.cache_mode else {}
    return RoleModels(user=get_model(m.user, **kw), frontier=get_model(m.frontier, **kw),
                      base=get_model(m.base, **kw), judges=[get_model(j, **kw) for j in m.judges])


async def run_transcripts(proc: ProcedureRun, compiled: Any, condition: str, scenarios: list[Scenario], *,
                          show_progress: bool = False,
                          on_done: Callable[[Transcript], None] | None = None) -> list[Transcript]:
    """One condition's conversations with the simulated user, all scenarios concurrently."""
    model = proc.models.for_condition(condition, compiled.model_spec)
    agent = build_condition(condition, proc.procedure, model)
    simulator = UserSimulator(proc.models.user, proc.procedure)
    with Progress(TextColumn(f"[bold]{condition}[/] {proc.procedure.name}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), disable=not show_progress) as bar:
        task = bar.add_task("conversations", total=len(scenarios))
        # The checkpoint's store path differs between checkouts; its fingerprint does not.
        label = (f"local:compiled-{compiled.model_fingerprint[:12]}" if MODEL_ROLE[condition] == "compiled"
                 else None)

        def finished(t: Transcript) -> Transcript:
            return t.model_copy(update={"agent_model": label}) if label else t

        def done(t: Transcript) -> None:
            bar.advance(task)
            if on_done is not None:
                on_done(finished(t))

        transcripts = await run_conversations(agent, simulator, scenarios, on_done=done)
    return [finished(t) for t in transcripts]


async def judge_conversations(proc: ProcedureRun, compiled: Any, transcripts: list[Transcript],
                              scenarios: list[Scenario]) -> list[ConversationResult]:
    """Trace-judge and rubric-judge each transcript (judges see no condition); the LLM judges'
    calls all run concurrently, within the LLM layer's limits."""
    domains = {k: v for k, v in proc.scenario_set.variables.items() if isinstance(v, list)}

    async def one(transcript: Transcript, scenario: Scenario) -> ConversationResult:
        verdict = compiled.trace_judge.judge(transcript.turns, scenario.path)
        offline = offline_scores(verdict, transcript.turns, intended_path=scenario.path,
                                 variables=scenario.variables, challenge=scenario.challenge, domains=domains)
        judged = await asyncio.gather(*(
            judge_transcript(m, transcript.turns, challenge_posed=scenario.challenge, offline_scores=offline,
                             seed=scenario.index) for m in proc.models.judges))
        return ConversationResult(transcript=transcript, verdict=verdict, judges=list(judged),
                                  offline_scores=offline)

    return list(await asyncio.gather(*(one(t, s) for t, s in zip(transcripts, scenarios, strict=True))))


def _say(line: str) -> None:
    """A progress line for long work (the gate plugin lets it through pytest's capture)."""
    print(f"subterra: {line}", file=sys.stderr, flush=True)


def reusable_transcripts(proc: ProcedureRun, condition: str, indices: list[int]) -> dict[int, Transcript]:
    """Conversations of the version at `--gate-against` that the edit cannot have changed."""
    if proc.previous is None:
        return {}
    old_run, edit = proc.previous
    old_scenarios = {s.index: s for s in old_run.scenarios}
    new_scenarios = {s.index: s for s in proc.scenarios}
    reused = {}
    for i in indices:
        old = old_run.results.get(old_run.procedure.name, condition, i)
        if old is not None and edit.can_reuse(old.transcript, old_scenarios.get(i), new_scenarios[i]):
            reused[i] = old.transcript.model_copy(update={"reused_from": edit.ref})
    return reused


def evaluate_condition(proc: ProcedureRun, compiled: Any, condition: str) -> list[ConversationResult]:
    """Every scenario of one condition: from the results store, or run now (once)."""
    return [r for store, scenarios in proc.result_groups()
            for r in _evaluate_group(proc, compiled, condition, store, scenarios)]


def _evaluate_group(proc: ProcedureRun, compiled: Any, condition: str, store: ResultStore,
                    scenarios: list[Scenario]) -> list[ConversationResult]:
    by_index = {s.index: s for s in scenarios}

    async def run(indices: list[int]) -> list[ConversationResult]:
        transcripts = store.staged(proc.procedure.name, condition, indices)
        resumed = len(transcripts)
        reused = reusable_transcripts(proc, condition, [i for i in indices if i not in transcripts])
        transcripts.update(reused)
        fresh = [by_index[i] for i in indices if i not in transcripts]
        started = time.perf_counter()
        _say(f"{proc.key} {condition}: running {len(fresh)} conversations"
             + (f" of the version at {proc.at_ref.ref}" if proc.at_ref else "")
             + (f", {resumed} finished before an interruption" if resumed else "")
             + (f", {len(reused)} reused from {proc.against}" if reused else ""))
        if fresh:
            transcripts.update((t.scenario_index, t) for t in await run_transcripts(
                proc, compiled, condition, fresh, show_progress=sys.stderr.isatty(), on_done=store.stage))
        _say(f"{proc.key} {condition}: done in {time.perf_counter() - started:.0f}s")
        # Every transcript is judged now, reused ones too: the trace judge learnt the new version.
        return await judge_conversations(proc, compiled, [transcripts[i] for i in indices],
                                         [by_index[i] for i in indices])

    return store.ensure_group(proc.procedure.name, condition, sorted(by_index), run)


class _CompiledOnDemand:
    """An earlier version's compiled model, compiled (or read from the store) only when one of
    its conversations has to run: results already in the results store need no model."""

    def __init__(self, proc: ProcedureRun) -> None:
        self._proc = proc
        self._model: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._model is None:
            from compile.pipeline import compile_for_gate

            self._model = compile_for_gate(self._proc)
        return getattr(self._model, name)


def edit_comparison(proc: ProcedureRun, compiled: Any) -> EditComparison:
    """Before vs after the edit since `--gate-against`, on the same scenario indices: the
    version at the ref's results from the results store, or run now (once per process)."""
    if proc.comparison is None:
        old = proc.before
        assert old is not None, "edit_comparison needs a version at the --gate-against ref"
        spec = proc.suite.regression
        conditions = proc.suite.regression_conditions
        after = {c: evaluate_condition(proc, compiled, c) for c in conditions}
        old_compiled = _CompiledOnDemand(old)
        before = {c: evaluate_condition(old, old_compiled, c) for c in conditions}
        proc.comparison = compare_versions(
            old.at_ref.ref, Version(procedure=old.procedure, scenarios=old.scenarios, results=before),
            Version(procedure=proc.procedure, scenarios=proc.scenarios, results=after),
            criteria=spec.criteria, conditions=conditions, margin=spec.margin)
    return proc.comparison


def run_conversation_case(case: GateConversation, compiled: Any) -> list[str]:
    """Run (or read) the case's conversation; return its per-conversation problems."""
    results = evaluate_condition(case.run, compiled, case.condition)
    result = next(r for r in results if r.transcript.scenario_index == case.scenario.index)
    spec = case.run.suite.thresholds.per_conversation
    return conversation_problems(result, spec) if case.condition in spec.conditions else []


def run_check_case(case: GateCheck, compiled: Any) -> CheckResult:
    if case.kind == "regression":
        row = edit_comparison(case.run, compiled).row(case.conditions[0], case.spec)
        return CheckResult(name=f"{case.conditions[0]} {case.spec} after the edit", value=row.low,
                           bound=row.margin, passed=row.passed, message=row.message)
    groups = [evaluate_condition(case.run, compiled, c) for c in case.conditions]
    if case.kind == "mean":
        return check_mean(groups[0], case.spec)
    if case.kind == "failure_rate":
        return check_failure_rate(groups[0], case.spec)
    return check_non_inferiority(groups[0], groups[1], case.spec)
