"""A condition's conversations in a gate run: from the results store when another test
(or xdist worker) already has them; otherwise resumed from the transcripts a killed run
staged, reused from `--gate-against` where the edit cannot have changed them, and the rest
run now against the simulated user, then judged."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from gate.against.reuse import reusable_transcripts
from gate.judging import judge_conversations
from gate.model_card_results import compiled_label
from gate.progress import conversation_bar, say
from gate.result_store import ConversationResult, ResultStore, Run
from gate.served import served_procedure
from harness.conditions import build_condition, model_role
from harness.runner import run_conversations
from harness.scenarios import Scenario
from harness.simulator import UserSimulator
from harness.transcript import Transcript

if TYPE_CHECKING:
    from compile.pipeline import CompiledModel
    from gate.run import ProcedureRun


async def run_transcripts(proc: ProcedureRun, compiled: CompiledModel, condition: str, scenarios: list[Scenario],
                          *, show_progress: bool = False,
                          on_done: Callable[[Transcript], None] | None = None) -> list[Transcript]:
    """One condition's conversations with the simulated user, all scenarios concurrently."""
    served = proc.entry.served if model_role(condition) == "compiled" else None
    if served is not None:      # the endpoint, with the system prompt the served model learnt
        procedure = served_procedure(proc, compiled, served)
        model = proc.models.for_condition(condition, served.model)
        label: str | None = served.model
    else:
        procedure = proc.procedure
        model = proc.models.for_condition(condition, compiled.model_spec)
        # The checkpoint's store path differs between checkouts; its fingerprint does not.
        label = compiled_label(compiled.model_fingerprint) if model_role(condition) == "compiled" else None
    agent = build_condition(condition, procedure, model)
    simulator = UserSimulator(proc.models.user, proc.procedure)

    def finished(t: Transcript) -> Transcript:
        return t.model_copy(update={"agent_model": label}) if label else t

    with conversation_bar(f"[bold]{condition}[/] {proc.procedure.name}", len(scenarios),
                          show=show_progress) as advance:
        def done(t: Transcript) -> None:
            advance()
            if on_done is not None:
                on_done(finished(t))

        transcripts = await run_conversations(agent, simulator, scenarios, on_done=done,
                                              max_turns=proc.entry.max_turns)
    return [finished(t) for t in transcripts]


# A rerun of trial t is seeded as trial t + RERUN_STRIDE · attempt: fresh seeds and cache
# entries that no real trial number reaches (suites allow at most 100 trials).
RERUN_STRIDE = 1000


async def _rerun_simulator_faults(proc: ProcedureRun, compiled: CompiledModel, condition: str,
                                  scenarios: list[Scenario], results: list[ConversationResult]) -> list[ConversationResult]:
    """With the suite's `rerun_simulator_faults: N`, a conversation a simulated-user fault
    spoiled runs again (up to N times) with fresh seeds; the rerun keeps its (scenario, trial)
    and lists the faults of the attempts it replaced (`rerun_after`), so nothing is hidden."""
    results = list(results)
    for attempt in range(1, proc.suite.rerun_simulator_faults + 1):
        spoiled = [i for i, r in enumerate(results) if r.simulator_faults]
        if not spoiled:
            break
        say(f"{proc.key} {condition}: running {len(spoiled)} conversation{'' if len(spoiled) == 1 else 's'} again "
            f"that a simulated-user fault spoiled (attempt {attempt})")
        again = [scenarios[i].model_copy(update={"trial": scenarios[i].trial + RERUN_STRIDE * attempt})
                 for i in spoiled]
        transcripts = [t.model_copy(update={"trial": scenarios[i].trial}) for t, i in
                       zip(await run_transcripts(proc, compiled, condition, again), spoiled, strict=True)]
        judged = await judge_conversations(proc, compiled, transcripts, [scenarios[i] for i in spoiled])
        for i, result in zip(spoiled, judged, strict=True):
            earlier = results[i].rerun_after + results[i].simulator_faults
            results[i] = result.model_copy(update={"rerun_after": earlier})
    return results


def evaluate_condition(proc: ProcedureRun, compiled: CompiledModel, condition: str,
                       alongside: Sequence[str] = ()) -> list[ConversationResult]:
    """Every scenario of one condition: from the results store, or run now (once). The
    `alongside` conditions not stored yet run at the same time (their errors are theirs: they
    surface when they are asked for)."""
    conditions = [condition, *(c for c in dict.fromkeys(alongside) if c != condition)]
    found: list[ConversationResult] = []
    for store, scenarios in proc.result_groups():
        by_key = {(s.index, s.trial): s for s in scenarios}       # one per (scenario, trial)
        groups = store.ensure_groups(proc.procedure.name, {
            c: (sorted(by_key), _group_runner(proc, compiled, c, store, by_key)) for c in conditions})
        results = groups[condition]
        if isinstance(results, BaseException):
            raise results
        found += results
    return found


def _group_runner(proc: ProcedureRun, compiled: CompiledModel, condition: str, store: ResultStore,
                  by_key: dict[tuple[int, int], Scenario]) -> Run:
    async def run(keys: list[tuple[int, int]]) -> list[ConversationResult]:
        transcripts = store.staged(proc.procedure.name, condition, keys)
        resumed = len(transcripts)
        reused = reusable_transcripts(proc, condition, [k for k in keys if k not in transcripts])
        transcripts.update(reused)
        fresh = [by_key[k] for k in keys if k not in transcripts]
        started = time.perf_counter()
        say(f"{proc.key} {condition}: running {len(fresh)} conversation{'' if len(fresh) == 1 else 's'}"
            + (f" of the version at {proc.at_ref.ref}" if proc.at_ref else "")
            + (f", {resumed} finished before an interruption" if resumed else "")
            + (f", {len(reused)} reused from {proc.against}" if reused else ""))
        if fresh:
            transcripts.update(((t.scenario_index, t.trial), t) for t in await run_transcripts(
                proc, compiled, condition, fresh, show_progress=sys.stderr.isatty(), on_done=store.stage))
        say(f"{proc.key} {condition}: done in {time.perf_counter() - started:.0f}s")
        # Every transcript is judged now, reused ones too: the trace judge learnt the new version.
        results = await judge_conversations(proc, compiled, [transcripts[k] for k in keys],
                                            [by_key[k] for k in keys])
        return await _rerun_simulator_faults(proc, compiled, condition, [by_key[k] for k in keys], results)

    return run
