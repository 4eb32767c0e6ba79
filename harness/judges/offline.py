"""Rubric scores derived from the trace verdict: the judge used when no LLM judge exists.

These scores measure procedure adherence (did the walk follow the flowchart to the
terminal the scenario intends, without repeats or jumps; did the agent keep the
customer's details), not language quality. Every place that shows them labels them
offline. The rules, per criterion (1–5):

- task_success: 1 when half or more of the agent's turns are unrecognised (the agent did
  not say the procedure; the trace only followed the customer); else 5 on-chart walk to
  the intended terminal; 4 intended terminal with one slip (an off-chart step, a repeat or
  an unrecognised turn); 3 a terminal, but the wrong one or with more slips, or no
  terminal after reaching at least half the intended path; 2 some on-chart progress;
  1 none.
- information_accuracy: share of the scenario's values the customer mentioned that the
  agent later repeats correctly (in words, or as a tool call's argument) (≥80 % → 5, ≥60 % → 4, ≥40 % → 3, ≥20 % → 2, else 1);
  minus 1 for each value of the same variable the agent states that the customer never
  gave (a fabricated detail); 5 when the customer gave no values.
- consistency: 5 minus one per repeated agent question and per off-chart step.
- graceful_handling: task_success on the same scale, capped at 3 when the customer
  posed no challenge (the paper's cap).
- naturalness: 5 minus one per surface problem: an empty agent turn, an agent turn over
  120 words, an agent turn with more than two questions, a near-duplicate agent turn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from harness.judges.trace import TraceVerdict
from harness.transcript import Turn


def _clamp(x: int) -> int:
    return max(1, min(5, x))


def _task_success(verdict: TraceVerdict, intended_len: int, agent_turns: int) -> int:
    unrecognised = len(verdict.unrecognised_turns)
    if agent_turns and unrecognised * 2 >= agent_turns:
        return 1
    slips = len(verdict.off_chart_steps) + len(verdict.repeated_questions) + unrecognised
    if verdict.terminal and verdict.terminal_fits is not False:
        return 5 if slips == 0 else 4 if slips == 1 else 3
    if verdict.terminal:
        return 3
    on_chart = sum(verdict.node_passes.values())
    if intended_len and on_chart >= intended_len / 2:
        return 3
    return 2 if on_chart >= 2 else 1


def _mentions(text: str, value: Any) -> bool:
    v = str(value).strip().lower()
    if not v:
        return False
    return re.search(rf"(?<![\w]){re.escape(v)}(?![\w])", text.lower()) is not None


def _agent_words(turn: Turn) -> str:
    """What an agent turn carries of the customer's details: its words, and a tool call's
    arguments (passing a value to a tool uses it as surely as saying it back)."""
    if turn.tool_call is None:
        return turn.text
    return " ".join([turn.text, *(str(v) for v in turn.tool_call.arguments.values())])


def _information_accuracy(turns: Sequence[Turn], variables: Mapping[str, Any],
                          domains: Mapping[str, Sequence[Any]]) -> int:
    given = reflected = 0
    fabricated = 0
    for name, value in variables.items():
        first_user = next((i for i, t in enumerate(turns) if t.speaker == "user" and _mentions(t.text, value)), None)
        if first_user is not None:
            given += 1
            if any(t.speaker == "agent" and _mentions(_agent_words(t), value) for t in turns[first_user + 1 :]):
                reflected += 1
        others = [o for o in domains.get(name, ()) if str(o) != str(value) and len(str(o)) > 2]
        for t in turns:
            if t.speaker == "agent" and any(_mentions(_agent_words(t), o) for o in others):
                fabricated += 1
                break
    if not given:
        base = 5
    else:
        share = reflected / given
        base = 5 if share >= 0.8 else 4 if share >= 0.6 else 3 if share >= 0.4 else 2 if share >= 0.2 else 1
    return _clamp(base - fabricated)


def _naturalness(turns: Sequence[Turn], verdict: TraceVerdict) -> int:
    problems = len(verdict.repeated_questions)
    for t in turns:
        if t.speaker != "agent" or t.tool_call is not None:    # a tool call is not speech
            continue
        words = t.text.split()
        problems += (not words) + (len(words) > 120) + (t.text.count("?") > 2)
    return _clamp(5 - problems)


def offline_scores(verdict: TraceVerdict, turns: Sequence[Turn], *, intended_path: Sequence[str],
                   variables: Mapping[str, Any], challenge: bool,
                   domains: Mapping[str, Sequence[Any]] | None = None) -> dict[str, int]:
    """The five rubric scores for one transcript, from its trace verdict."""
    task = _task_success(verdict, len(intended_path), sum(t.speaker == "agent" for t in turns))
    return {
        "task_success": task,
        "information_accuracy": _information_accuracy(turns, variables, domains or {}),
        "consistency": _clamp(5 - len(verdict.repeated_questions) - len(verdict.off_chart_steps)),
        "graceful_handling": task if challenge else min(task, 3),
        "naturalness": _naturalness(turns, verdict),
    }
