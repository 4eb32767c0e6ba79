"""Failures caused by the simulated customer, not the agent: found and named, never hidden.

tau-bench's maintainers found that the simulated user causes a large share of failures
(ending early, forgetting its task, speaking as the agent). In a gate those would read as
regressions of the agent. `simulator_faults` marks a conversation whose failure is the
simulator's, judge-free, from the transcript and the scenario alone:

- ``contradicts_scenario``: a customer turn names another choice of one of the scenario's
  list variables (``destination: Peru`` but "I'd like to go to Japan") and not its own.
  Skipped for a persona whose challenge is to change its mind (that is the scenario).
  Values any variable of the scenario holds are never counted against another.
- ``ended_early``: the customer ended the chat (``user_ended``) with planned steps of its
  own left, while the agent had not reached a terminal.
- ``spoke_as_agent``: a customer turn opens with an agent's label ("Agent:", "Assistant:")
  or all but repeats an agent turn — one said in the conversation, or an agent example of
  the procedure.
- ``repeated_into_cap``: the conversation hit the turn cap while the customer kept
  repeating itself — at least two customer turns that all but repeat an earlier one,
  each following an agent turn that did not repeat itself (an agent stuck in a loop is the
  agent's fault).

What no rule can see (the customer forgetting its goal, answering a question nobody
asked) is a yes/no question for an LLM judge: `fault_question` builds it and
`parse_fault_answer` reads the reply. Tool turns (`speaker == "tool"`) are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from difflib import SequenceMatcher
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from harness.llm.base import ChatRequest, Hint, Message
from harness.procedure import Procedure, Role
from harness.scenarios import Scenario
from harness.templates import TemplateFailure, render
from harness.transcript import EndReason, Transcript, Turn

__all__ = ["FAULT_KINDS", "FaultKind", "SimulatorFault", "fault_question", "parse_fault_answer", "simulator_faults"]

FaultKind = Literal["contradicts_scenario", "ended_early", "spoke_as_agent", "repeated_into_cap", "judged"]
FAULT_KINDS: tuple[FaultKind, ...] = ("contradicts_scenario", "ended_early", "spoke_as_agent",
                                      "repeated_into_cap", "judged")

SIMILAR = 0.85          # SequenceMatcher ratio at which two turns count as the same words
_AGENT_LABEL = re.compile(r"^\s*\**\s*(agent|assistant|support( agent)?|customer (service|support)( agent)?|"
                          r"representative|rep|bot|ai)\s*\**\s*:", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+")


class SimulatorFault(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: FaultKind
    turn: int | None            # the transcript turn it shows in (None: the conversation as a whole)
    detail: str


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _same(a: str, b: str) -> bool:
    a, b = _norm(a), _norm(b)
    return bool(a) and bool(b) and SequenceMatcher(None, a, b, autojunk=False).ratio() >= SIMILAR


def _mentions(text: str, value: Any) -> bool:
    words = _norm(str(value))
    return bool(words) and re.search(rf"(?<![a-z0-9]){re.escape(words)}(?![a-z0-9])", _norm(text)) is not None


def _contradictions(turns: Sequence[Turn], scenario: Scenario,
                    domains: Mapping[str, Sequence[Any]]) -> list[SimulatorFault]:
    if "change" in str(scenario.persona.get("challenge", "")).lower():
        return []
    own = {_norm(str(v)) for v in scenario.variables.values()}
    faults = []
    for i, turn in enumerate(turns):
        if turn.speaker != "user":
            continue
        for name, choices in domains.items():
            value = scenario.variables.get(name)
            if value is None or _mentions(turn.text, value):
                continue
            others = [c for c in choices if _norm(str(c)) not in own and len(_norm(str(c))) > 2
                      and _mentions(turn.text, c)]
            if others:
                faults.append(SimulatorFault(kind="contradicts_scenario", turn=i,
                                             detail=f"says {name} {others[0]!r}, the scenario's is {value!r}"))
    return faults


def _planned_steps(procedure: Procedure, scenario: Scenario) -> int:
    return sum(procedure.nodes[n].role is Role.USER for n in scenario.path if n in procedure.nodes)


def _agent_examples(procedure: Procedure, scenario: Scenario) -> list[str]:
    out = []
    for node in procedure.nodes.values():
        if node.role is not Role.AGENT:
            continue
        for example in node.examples:
            try:
                out.append(render(example, scenario.context))
            except TemplateFailure:
                continue
    return out


def _spoke_as_agent(turns: Sequence[Turn], examples: Sequence[str]) -> list[SimulatorFault]:
    faults = []
    said: list[str] = []
    for i, turn in enumerate(turns):
        if turn.speaker == "agent" and turn.text.strip():
            said.append(turn.text)
        if turn.speaker != "user":
            continue
        if _AGENT_LABEL.match(turn.text):
            faults.append(SimulatorFault(kind="spoke_as_agent", turn=i, detail="opens with an agent's label"))
        elif any(_same(turn.text, a) for a in said):
            faults.append(SimulatorFault(kind="spoke_as_agent", turn=i, detail="repeats an agent turn"))
        elif any(_same(turn.text, e) for e in examples):
            faults.append(SimulatorFault(kind="spoke_as_agent", turn=i, detail="speaks an agent line of the procedure"))
    return faults


def _repeated_into_cap(turns: Sequence[Turn], end_reason: EndReason) -> list[SimulatorFault]:
    if end_reason != "turn_cap":
        return []
    spoken = [(i, t) for i, t in enumerate(turns) if t.speaker in ("agent", "user")]
    users: list[str] = []
    agents: list[str] = []
    repeats = []
    last_agent_repeated = False
    for i, turn in spoken:
        if turn.speaker == "agent":
            last_agent_repeated = any(_same(turn.text, a) for a in agents)
            agents.append(turn.text)
            continue
        if any(_same(turn.text, u) for u in users) and not last_agent_repeated:
            repeats.append(i)
        users.append(turn.text)
    if len(repeats) < 2:
        return []
    return [SimulatorFault(kind="repeated_into_cap", turn=repeats[-1],
                           detail=f"{len(repeats)} customer turns repeat an earlier one until the turn cap")]


def simulator_faults(transcript: Transcript, scenario: Scenario, procedure: Procedure, *,
                     domains: Mapping[str, Sequence[Any]] | None = None,
                     agent_finished: bool = False) -> list[SimulatorFault]:
    """The simulated customer's faults in one conversation (empty: none found).

    `domains`: each list variable's choices (the scenario set's); `agent_finished`: the agent
    reached a terminal (the trace judge's verdict), so an early end is not the customer's.
    """
    turns = transcript.turns
    faults = _contradictions(turns, scenario, domains or {})
    faults += _spoke_as_agent(turns, _agent_examples(procedure, scenario))
    said = sum(t.speaker == "user" for t in turns)
    planned = _planned_steps(procedure, scenario)
    if transcript.end_reason == "user_ended" and said < planned and not agent_finished:
        faults.append(SimulatorFault(kind="ended_early", turn=None,
                                     detail=f"the customer ended after {said} of its {planned} planned steps"))
    faults += _repeated_into_cap(turns, transcript.end_reason)
    return sorted(faults, key=lambda f: (f.turn if f.turn is not None else len(turns), FAULT_KINDS.index(f.kind)))


FAULT_SYSTEM = (
    "You audit a simulated customer in a customer-service chat. The customer was given these "
    "facts: {facts}, and this plan:\n{plan}\n\nAnswer YES if the customer (not the agent) broke "
    "its role: forgot or abandoned its goal, asked for something outside its facts, or answered "
    "as if it were the agent. Otherwise answer NO. Reply with YES or NO, then one short reason."
)


def fault_question(transcript: Transcript, scenario: Scenario, procedure: Procedure) -> ChatRequest:
    """The LLM-judge question for what the rules above cannot see."""
    plan = "\n".join(f"- {render(procedure.nodes[n].prompt, scenario.context).strip()}"
                     for n in scenario.path if procedure.nodes[n].role is Role.USER)
    facts = ", ".join(f"{k}: {v}" for k, v in scenario.variables.items()) or "none"
    chat = "\n".join(f"{'Agent' if t.speaker == 'agent' else 'Customer'}: {t.text}"
                     for t in transcript.turns if t.speaker in ("agent", "user"))
    return ChatRequest(
        messages=(Message(role="system", content=FAULT_SYSTEM.format(facts=facts, plan=plan or "- (none)")),
                  Message(role="user", content=f"The conversation:\n{chat}\n\nDid the customer break its role?")),
        max_tokens=60, temperature=0.0, purpose="simulator_check", seed=scenario.trial_seed("fault", scenario.index),
        hint=Hint(task="judge", verdict={"scores": {}, "rationale": "offline: no simulator check"}))


def parse_fault_answer(text: str) -> SimulatorFault | None:
    """A judged fault when the reply starts with YES; None for NO or anything unreadable."""
    answer = text.strip()
    if re.match(r"^\W*yes\b", answer, re.IGNORECASE):
        reason = re.sub(r"^\W*yes\b\W*", "", answer, flags=re.IGNORECASE).strip()
        return SimulatorFault(kind="judged", turn=None, detail=reason or "the judge says the customer broke its role")
    return None
