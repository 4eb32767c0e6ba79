"""Judge-free verdicts on what the agent did to the backend (tau-bench's verdict, and more).

- End state: the conversation's backend copy as it ended, against the state the scenario's
  path implies (its tool steps called with the customer's arguments from the arranged start).
- Per tool step of the intended path: the agent called the right tool, with the right
  arguments (compared as trimmed, case-folded text, as the backend compares them), at the
  right point (after as many customer turns as the path puts before that step).
Calls the path does not have are counted as extra. Only procedures with tools get a verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, computed_field

from harness.procedure.spec import Procedure, Role
from harness.scenarios import Scenario
from harness.transcript import Transcript, Turn


class StepVerdict(BaseModel):
    node: str                         # the tool step of the intended path
    tool: str
    expected: dict[str, Any]          # the arguments the customer gave
    called: str | None = None         # the tool the agent called there (None: no call)
    arguments: dict[str, Any] | None = None
    right_tool: bool = False
    right_arguments: bool = False
    right_point: bool = False

    @property
    def correct(self) -> bool:
        return self.right_tool and self.right_arguments and self.right_point


class ActionVerdict(BaseModel):
    end_state_match: bool
    steps: list[StepVerdict] = Field(default_factory=list)
    extra_calls: int = 0              # calls beyond the intended path's tool steps
    wrong_arguments: list[str] = Field(default_factory=list)   # "node: argument" that differed

    @property
    def correct_steps(self) -> int:
        return sum(s.correct for s in self.steps)

    @property
    def tool_call_accuracy(self) -> float | None:
        """Correct tool steps over the intended path's tool steps (None: the path has none)."""
        return self.correct_steps / len(self.steps) if self.steps else None

    @property
    def action_correct(self) -> bool:
        """Every intended call right, none extra, and the backend where it should be."""
        return self.end_state_match and self.correct_steps == len(self.steps) and not self.extra_calls


def _same(a: Any, b: Any) -> bool:
    return str(a).strip().casefold() == str(b).strip().casefold()


def _user_turns_before(procedure: Procedure, path: Sequence[str], position: int) -> int:
    return sum(procedure.nodes[n].role is Role.USER for n in path[:position])


def judge_actions(procedure: Procedure, scenario: Scenario, transcript: Transcript) -> ActionVerdict | None:
    """The verdict, or None for a scenario without a backend (a procedure without tools)."""
    backend = scenario.backend
    if backend is None:
        return None
    calls: list[tuple[int, Turn]] = []
    users = 0
    for turn in transcript.turns:
        if turn.speaker == "user":
            users += 1
        elif turn.speaker == "agent" and turn.tool_call is not None:
            calls.append((users, turn))
    positions = [i for i, n in enumerate(scenario.path) if procedure.nodes[n].role is Role.TOOL
                 and i + 1 < len(scenario.path)]
    steps, wrong = [], []
    for k, expected in enumerate(backend.expected_calls):
        step = StepVerdict(node=expected["node"], tool=expected["tool"], expected=expected["arguments"])
        if k < len(calls):
            users_before, turn = calls[k]
            call = turn.tool_call
            assert call is not None
            step.called, step.arguments = call.name, dict(call.arguments)
            step.right_tool = call.name == expected["tool"]
            differing = [name for name, value in expected["arguments"].items()
                         if name not in call.arguments or not _same(call.arguments[name], value)]
            differing += [name for name in call.arguments if name not in expected["arguments"]]
            step.right_arguments = step.right_tool and not differing
            wrong += [f"{expected['node']}: {name}" for name in differing]
            want_users = _user_turns_before(procedure, scenario.path, positions[k]) if k < len(positions) else None
            step.right_point = users_before == want_users
        steps.append(step)
    end = transcript.backend_end if transcript.backend_end is not None else backend.initial
    return ActionVerdict(end_state_match=_normalised(end) == _normalised(backend.expected_end), steps=steps,
                         extra_calls=max(0, len(calls) - len(backend.expected_calls)), wrong_arguments=wrong)


def _normalised(state: dict) -> Any:
    """A state compared as the backend compares values: trimmed, case-folded text."""
    if isinstance(state, dict):
        return {k: _normalised(v) for k, v in state.items()}
    if isinstance(state, list):
        return [_normalised(v) for v in state]
    return str(state).strip().casefold()


class StepSummary(BaseModel):
    node: str
    tool: str
    total: int                      # conversations whose intended path has this tool step
    correct: int                    # right tool, right arguments, right point
    right_tool: int
    right_arguments: int
    right_point: int


class ActionSummary(BaseModel):
    """One condition's action figures over its conversations (procedures with tools)."""

    condition: str
    n: int                          # conversations judged
    end_state_matches: int
    tool_steps: int                 # intended tool steps, over all conversations
    correct_steps: int
    extra_calls: int
    action_correct: int             # conversations right in every call and in the end state
    steps: list[StepSummary] = Field(default_factory=list)

    @computed_field
    @property
    def end_state_match_rate(self) -> float | None:
        return self.end_state_matches / self.n if self.n else None

    @computed_field
    @property
    def tool_call_accuracy(self) -> float | None:
        return self.correct_steps / self.tool_steps if self.tool_steps else None


def summarize_actions(condition: str, verdicts: Sequence[ActionVerdict]) -> ActionSummary:
    per: dict[str, StepSummary] = {}
    for verdict in verdicts:
        for step in verdict.steps:
            s = per.setdefault(step.node, StepSummary(node=step.node, tool=step.tool, total=0, correct=0,
                                                      right_tool=0, right_arguments=0, right_point=0))
            s.total += 1
            s.correct += step.correct
            s.right_tool += step.right_tool
            s.right_arguments += step.right_arguments
            s.right_point += step.right_point
    return ActionSummary(
        condition=condition, n=len(verdicts), end_state_matches=sum(v.end_state_match for v in verdicts),
        tool_steps=sum(len(v.steps) for v in verdicts), correct_steps=sum(v.correct_steps for v in verdicts),
        extra_calls=sum(v.extra_calls for v in verdicts), action_correct=sum(v.action_correct for v in verdicts),
        steps=sorted(per.values(), key=lambda s: s.node))
