"""Evaluated conversations on disk: what every xdist worker writes and every reader shares.

One JSON file per (procedure, condition, scenario) under a run directory keyed by the
fingerprint of everything that determines the results. A result is computed at most
once: the writer holds a file lock, and anyone else asking waits and reads the file.
Aggregate tests and the report read results from here, never from a worker's memory.
While a group runs, each finished conversation is staged beside the results, so a run
killed half-way has only the unfinished conversations again.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from filelock import FileLock
from pydantic import BaseModel, Field

from harness.files import write_atomic
from harness.judges.actions import ActionVerdict
from harness.judges.llm_judge import JudgeResult
from harness.judges.rubric import CRITERIA, Scores
from harness.judges.trace import TraceVerdict
from harness.transcript import Transcript

STAGING = "finished-conversations"


class ConversationResult(BaseModel):
    transcript: Transcript
    verdict: TraceVerdict
    judges: list[JudgeResult]
    offline_scores: dict[str, int]          # trace-derived, always computed
    # What the agent did to the backend (procedures with tools only): end state, per tool step.
    actions: ActionVerdict | None = Field(default=None, exclude_if=lambda verdict: verdict is None)

    @property
    def scores(self) -> Scores | None:
        """The primary judge's scores (the first judge that succeeded), as the paper reports."""
        return next((j.scores for j in self.judges if j.scores is not None), None)

    def score(self, criterion: str) -> int | None:
        s = self.scores
        return s.get(criterion) if s else None


class ResultStore:
    """Results of one run: `<root>/<procedure>/<condition>/<scenario>.json`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, procedure: str, condition: str, index: int) -> Path:
        return self.root / procedure / condition / f"{index:04d}.json"

    def get(self, procedure: str, condition: str, index: int) -> ConversationResult | None:
        path = self.path(procedure, condition, index)
        if not path.exists():
            return None
        return ConversationResult.model_validate_json(path.read_text(encoding="utf-8"))

    def put(self, result: ConversationResult) -> None:
        t = result.transcript
        write_atomic(self.path(t.procedure, t.condition, t.scenario_index), result.model_dump_json())

    # A group's conversations are judged and stored together, but each finished conversation
    # is kept here at once: a run killed half-way resumes without having them again.
    def _staged_path(self, procedure: str, condition: str, index: int) -> Path:
        return self.root / procedure / condition / STAGING / f"{index:04d}.json"

    def stage(self, transcript: Transcript) -> None:
        t = transcript
        if t.cut_by_failed_call:
            return      # not finished: a resumed run has it again (its recorded calls answer from the cache)
        write_atomic(self._staged_path(t.procedure, t.condition, t.scenario_index), t.model_dump_json())

    def staged(self, procedure: str, condition: str, indices: list[int]) -> dict[int, Transcript]:
        """The finished conversations an interrupted run left for these scenarios."""
        paths = {i: self._staged_path(procedure, condition, i) for i in indices}
        return {i: Transcript.model_validate_json(p.read_text(encoding="utf-8")) for i, p in paths.items()
                if p.exists()}

    def ensure_group(self, procedure: str, condition: str, indices: list[int],
                     run: Callable[[list[int]], Awaitable[list[ConversationResult]]]) -> list[ConversationResult]:
        """All results of one (procedure, condition), running the missing ones together.

        One process at a time holds the group's lock and runs every missing scenario in one
        concurrent batch (so a local model decodes them together, and the batch is the same
        whichever worker gets there first); the others wait, then read.
        """
        folder = self.root / procedure / condition
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder) + ".lock"):
            missing = [i for i in indices if not self.path(procedure, condition, i).exists()]
            if missing:
                for result in asyncio.run(run(missing)):
                    self.put(result)
                shutil.rmtree(folder / STAGING, ignore_errors=True)
        return [self.get(procedure, condition, i) for i in indices]  # type: ignore[misc]

    def all(self, procedure: str, condition: str) -> list[ConversationResult]:
        folder = self.root / procedure / condition
        return [ConversationResult.model_validate_json(p.read_text(encoding="utf-8"))
                for p in sorted(folder.glob("*.json"))]


def scores_by_scenario(results: list[ConversationResult]) -> dict[int, Scores]:
    """Scenario index → primary judge's scores, judge failures left out."""
    return {r.transcript.scenario_index: r.scores for r in results if r.scores is not None}


def criterion_values(results: list[ConversationResult], criterion: str) -> list[int]:
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; expected one of {', '.join(CRITERIA)}")
    return [s.get(criterion) for s in scores_by_scenario(results).values()]


def dump_json(data: object, path: Path) -> None:
    """Atomic, deterministic JSON (sorted keys) for files tests compare byte for byte."""
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
