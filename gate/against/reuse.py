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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gate.result_store import ResultStore
from harness.conditions import condition_class
from harness.procedure import Procedure
from harness.scenarios import Scenario
from harness.transcript import Transcript


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
        return self.avoids(scenario) and not set(old.visited) & self.touched

    def avoids(self, scenario: Scenario) -> bool:
        """Whether the scenario's intended path stays clear of the edit (before any
        conversation: where it really went decides reuse too)."""
        return self.touched is not None and not set(scenario.path) & self.touched


class Version(Protocol):
    """What reuse reads of a version of a procedure (a `gate.run.ProcedureRun`)."""

    @property
    def procedure(self) -> Procedure: ...
    @property
    def scenarios(self) -> Sequence[Scenario]: ...
    @property
    def results(self) -> ResultStore: ...


class EditedVersion(Version, Protocol):
    """A version that may have an earlier one at `--against` to reuse conversations from."""

    @property
    def previous(self) -> tuple[Version, Edit] | None: ...


def reusable_transcripts(proc: EditedVersion, condition: str,
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
