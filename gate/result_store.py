"""Evaluated conversations on disk: what every xdist worker writes and every reader shares.

One JSON file per (procedure, condition, scenario, trial) under a run directory keyed by the
fingerprint of everything that determines the results. A result is computed at most
once: the writer holds a file lock, and anyone else asking waits and reads the file.
Aggregate tests and the report read results from here, never from a worker's memory.
While a group runs, each finished conversation is staged beside the results, so a run
killed half-way has only the unfinished conversations again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from filelock import FileLock
from pydantic import BaseModel, Field

from harness.files import write_atomic
from harness.judges.actions import ActionVerdict
from harness.judges.llm_judge import JudgeResult
from harness.judges.rubric import CRITERIA, Scores
from harness.judges.trace import TraceVerdict
from harness.simulator_faults import SimulatorFault
from harness.transcript import Transcript

STAGING = "finished-conversations"


class ConversationResult(BaseModel):
    transcript: Transcript
    verdict: TraceVerdict
    judges: list[JudgeResult]
    offline_scores: dict[str, int]          # trace-derived, always computed
    # What the agent did to the backend (procedures with tools only): end state, per tool step.
    actions: ActionVerdict | None = Field(default=None, exclude_if=lambda verdict: verdict is None)
    # What the simulated customer got wrong (harness.simulator_faults); omitted when none.
    simulator_faults: list[SimulatorFault] = Field(default_factory=list, exclude_if=lambda faults: not faults)
    # Faults of earlier attempts this conversation replaced (suite `rerun_simulator_faults`).
    rerun_after: list[SimulatorFault] = Field(default_factory=list, exclude_if=lambda faults: not faults)

    @property
    def passed(self) -> bool:
        """The gate's pass criterion for pass^k: a terminal reached on a valid trace and task
        success ≥ 4 by the primary judge."""
        s = self.scores
        acted = self.actions is None or self.actions.end_state_match
        return (self.verdict.terminal is not None and self.verdict.valid and s is not None
                and s.task_success >= 4 and acted)

    @property
    def scores(self) -> Scores | None:
        """The primary judge's scores (the first judge that succeeded), as the paper reports."""
        return next((j.scores for j in self.judges if j.scores is not None), None)

    def score(self, criterion: str) -> int | None:
        s = self.scores
        return s.get(criterion) if s else None


# (scenario index, trial): one conversation of a condition
Key = tuple[int, int]
Run = Callable[[list[Key]], Awaitable[list[ConversationResult]]]   # runs a group's missing keys


def _name(index: int, trial: int) -> str:
    # Trial 0 keeps the name results had before trials existed, so stored runs still read.
    return f"{index:04d}.json" if trial == 0 else f"{index:04d}-t{trial}.json"


class ResultStore:
    """Results of one run: `<root>/<procedure>/<condition>/<scenario>[-t<trial>].json`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, procedure: str, condition: str, index: int, trial: int = 0) -> Path:
        return self.root / procedure / condition / _name(index, trial)

    def get(self, procedure: str, condition: str, index: int, trial: int = 0) -> ConversationResult | None:
        path = self.path(procedure, condition, index, trial)
        if not path.exists():
            return None
        return ConversationResult.model_validate_json(path.read_text(encoding="utf-8"))

    def put(self, result: ConversationResult) -> None:
        t = result.transcript
        write_atomic(self.path(t.procedure, t.condition, t.scenario_index, t.trial), result.model_dump_json())

    # A group's conversations are judged and stored together, but each finished conversation
    # is kept here at once: a run killed half-way resumes without having them again.
    def _staged_path(self, procedure: str, condition: str, key: Key) -> Path:
        return self.root / procedure / condition / STAGING / _name(*key)

    def stage(self, transcript: Transcript) -> None:
        t = transcript
        if t.cut_by_failed_call:
            return      # not finished: a resumed run has it again (its recorded calls answer from the cache)
        write_atomic(self._staged_path(t.procedure, t.condition, (t.scenario_index, t.trial)), t.model_dump_json())

    def staged(self, procedure: str, condition: str, keys: list[Key]) -> dict[Key, Transcript]:
        """The finished conversations an interrupted run left for these (scenario, trial)s."""
        paths = {k: self._staged_path(procedure, condition, k) for k in keys}
        return {i: Transcript.model_validate_json(p.read_text(encoding="utf-8")) for i, p in paths.items()
                if p.exists()}

    def ensure_groups(self, procedure: str, groups: Mapping[str, tuple[list[Key], Run]]
                      ) -> dict[str, list[ConversationResult] | BaseException]:
        """All results of several of a procedure's conditions, running the missing ones now, all
        at the same time (condition -> its results, or the error that stopped its run).

        One process at a time holds a group's lock and runs every missing scenario of it in one
        concurrent batch (so a local model decodes them together, and the batch is the same
        whichever worker gets there first); the others wait, then read. Locks are taken in
        condition order, so processes asking for overlapping sets cannot deadlock. Groups run
        side by side because a local model's decoding keeps about one core busy: on 2 cores,
        two conditions take little longer than one.
        """
        with contextlib.ExitStack() as locks:
            missing: dict[str, tuple[list[Key], Run]] = {}
            for condition in sorted(groups):
                folder = self.root / procedure / condition
                folder.mkdir(parents=True, exist_ok=True)
                locks.enter_context(FileLock(str(folder) + ".lock"))
                keys, run = groups[condition]
                if todo := [k for k in keys if not self.path(procedure, condition, *k).exists()]:
                    missing[condition] = (todo, run)
            errors = asyncio.run(self._run_groups(procedure, missing)) if missing else {}
        return {condition: errors.get(condition) or [self.get(procedure, condition, *k) for k in keys]  # type: ignore[misc]
                for condition, (keys, _) in groups.items()}

    async def _run_groups(self, procedure: str, groups: Mapping[str, tuple[list[Key], Run]]
                          ) -> dict[str, BaseException]:
        async def one(condition: str, keys: list[Key], run: Run) -> None:
            started = time.perf_counter()
            for result in await run(keys):
                self.put(result)
            self._add_seconds(procedure, condition, time.perf_counter() - started)
            shutil.rmtree(self.root / procedure / condition / STAGING, ignore_errors=True)

        outcomes = await asyncio.gather(*(one(c, keys, run) for c, (keys, run) in groups.items()),
                                        return_exceptions=True)
        return {c: outcome for c, outcome in zip(groups, outcomes, strict=True) if isinstance(outcome, BaseException)}

    def seconds(self, procedure: str, condition: str) -> float | None:
        """How long running (conversations and judging) this group's results took, summed over
        the runs that made them (a resumed run adds its part); None if none was timed."""
        path = self._seconds_path(procedure, condition)
        return float(json.loads(path.read_text(encoding="utf-8"))["seconds"]) if path.exists() else None

    def _add_seconds(self, procedure: str, condition: str, seconds: float) -> None:
        total = (self.seconds(procedure, condition) or 0.0) + seconds
        write_atomic(self._seconds_path(procedure, condition), json.dumps({"seconds": round(total, 3)}))

    def _seconds_path(self, procedure: str, condition: str) -> Path:
        return self.root / procedure / f"{condition}.seconds.json"

    def all(self, procedure: str, condition: str) -> list[ConversationResult]:
        folder = self.root / procedure / condition
        return [ConversationResult.model_validate_json(p.read_text(encoding="utf-8"))
                for p in sorted(folder.glob("*.json"))]


def scores_by_scenario(results: list[ConversationResult]) -> dict[int, Scores]:
    """Scenario index → primary judge's scores, judge failures left out (one trial per scenario)."""
    return {r.transcript.scenario_index: r.scores for r in results if r.scores is not None}


def scores_by_trial(results: list[ConversationResult]) -> dict[Key, Scores]:
    """(scenario index, trial) → primary judge's scores, judge failures left out."""
    return {(r.transcript.scenario_index, r.transcript.trial): r.scores for r in results if r.scores is not None}


def criterion_values(results: list[ConversationResult], criterion: str) -> list[int]:
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; expected one of {', '.join(CRITERIA)}")
    return [s.get(criterion) for s in scores_by_trial(results).values()]


def dump_json(data: object, path: Path) -> None:
    """Atomic, deterministic JSON (sorted keys) for files tests compare byte for byte."""
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
