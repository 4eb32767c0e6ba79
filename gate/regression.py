"""Regression check of a procedure edit: which conversations of an earlier version still hold.

`subterra gate --against REF` evaluates the procedure as it is now, and reuses a
conversation of the version at git REF only when nothing that conversation's models could
have seen has changed:

- the scenario is the same (variables, persona, intended path);
- the condition's model reads only the prompts of the nodes it visits and the edges of
  the hubs it passes (`orchestrated`, `langgraph`). The compiled model is recompiled on
  any edit and `in_context` reads the whole flowchart, so their conversations always run
  again;
- nothing outside the nodes changed (system prompt, start, name, ...);
- no node on the intended path or among the nodes the condition says it visited was
  added or changed, or leads straight to one that was (a node's edges, their conditions
  and examples are part of the node; a hub's router reads what its targets say).

Reused transcripts are judged again: the trace judge is retrained on the new version's data.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from harness.conditions import condition_class
from harness.scenarios import Scenario
from harness.transcript import Transcript

if TYPE_CHECKING:
    from gate.run import ProcedureRun



class VersionAtRef(NamedTuple):
    """A suite entry's procedure and scenario files as they were at a git ref."""

    ref: str
    procedure: str
    scenarios: str


def file_at_ref(path: Path, ref: str) -> str | None:
    """The file's content at git `ref`, or None when it did not exist there."""
    path = path.resolve()

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(path.parent), *args], capture_output=True, text=True)

    known = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if known.returncode != 0:
        raise ValueError(f"git cannot resolve {ref!r} in {path.parent}: {known.stderr.strip() or 'unknown ref'}")
    shown = git("show", f"{ref}:./{path.name}")
    return shown.stdout if shown.returncode == 0 else None


@dataclass(frozen=True)
class Edit:
    """What changed between the version at `ref` and now, for reuse decisions."""

    ref: str
    touched: frozenset[str] | None      # None: everything

    def can_reuse(self, old: Transcript, old_scenario: Scenario | None, scenario: Scenario) -> bool:
        if self.touched is None or not condition_class(old.condition).reusable_after_edit:
            return False
        if old_scenario != scenario or not old.visited or old.end_reason in ("agent_error", "simulator_error"):
            return False
        seen = set(scenario.path) | set(old.visited)
        return not seen & self.touched


def reusable_transcripts(proc: ProcedureRun, condition: str,
                         keys: list[tuple[int, int]]) -> dict[tuple[int, int], Transcript]:
    """Conversations (by scenario and trial) of the version at `--gate-against` that the edit
    cannot have changed."""
    if proc.previous is None:
        return {}
    old_run, edit = proc.previous
    old_scenarios = {s.index: s for s in old_run.scenarios}
    new_scenarios = {s.index: s for s in proc.scenarios}
    reused = {}
    for i, trial in keys:
        old = old_run.results.get(old_run.procedure.name, condition, i, trial)
        if old is not None and edit.can_reuse(old.transcript, old_scenarios.get(i), new_scenarios[i]):
            reused[i, trial] = old.transcript.model_copy(update={"reused_from": edit.ref})
    return reused
