"""Conversations and transcripts: the records that flow between compile, runner and judges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from harness.files import write_atomic
from harness.llm.base import ToolCall, Usage

# "tool": a tool's result, the turn right after the agent turn that called it.
Speaker = Literal["agent", "user", "tool"]
EndReason = Literal["terminal", "user_ended", "turn_cap", "agent_error", "simulator_error"]


class Turn(BaseModel):
    speaker: Speaker
    text: str
    # The flowchart node this turn realises. Known for synthetic data (the generator was
    # told), inferred by the trace judge for evaluation transcripts; never shown to models.
    # When one agent message carries out a chain of steps, `node` is its last step.
    node: str | None = None
    # The chain's earlier steps, in order (empty for a one-step turn; omitted when written).
    chain: list[str] = Field(default_factory=list, exclude_if=lambda steps: not steps)
    # An agent turn that calls a tool (its `text` holds any words said with the call), or a
    # tool turn: the call it answers (its `text` is the result as JSON).
    tool_call: ToolCall | None = Field(default=None, exclude_if=lambda call: call is None)

    @property
    def steps(self) -> list[str]:
        """Every node this turn realises, in order."""
        return [*self.chain, self.node] if self.node is not None else list(self.chain)


class Conversation(BaseModel):
    """A synthetic training conversation generated along one path."""

    id: str
    procedure: str
    scenario_index: int
    seed: int
    path: list[str]
    variables: dict
    persona: dict
    turns: list[Turn]
    usage: Usage = Field(default_factory=Usage)


class Incidents(BaseModel):
    """What a talking model did that the conversation absorbed: counted, never fatal.

    The end reasons count the rest (`turn_cap`: nobody ended it; `simulator_error`: the
    customer stayed silent after a retry; `agent_error`: the agent's calls failed).
    """

    unparsed_routes: int = 0         # router replies naming no option (the first edge was taken)
    empty_agent_replies: int = 0     # agent turns with no words (kept in the transcript as they were)
    empty_user_replies: int = 0      # customer replies with no words and no end marker (each retried once)
    # Procedures with tools; kept out of the transcript's JSON while 0, so others' stay as they were.
    # Agent replies that began a tool call but wrote it unreadably (kept as words), or orchestrated
    # arguments that did not parse or fit the schema (the slot values were used):
    unparsed_tool_calls: int = Field(default=0, exclude_if=lambda value: not value)
    # Tool calls that raised, timed out or named no tool (the agent saw an error result):
    tool_errors: int = Field(default=0, exclude_if=lambda value: not value)
    # Router replies the provider constrained to the options (so never unparsed); kept out
    # of the transcript's JSON while 0, as for providers that cannot constrain.
    constrained_routes: int = Field(default=0, exclude_if=lambda value: not value)

    def __add__(self, other: Incidents) -> Incidents:
        return Incidents(**{k: getattr(self, k) + getattr(other, k) for k in Incidents.model_fields})


class Transcript(BaseModel):
    """One evaluated conversation between a condition and the simulated user."""

    procedure: str
    condition: str
    scenario_index: int
    turns: list[Turn]
    end_reason: EndReason
    # Which repetition of the scenario this is (suite `trials`); omitted when 0, so single-trial
    # transcripts are written as before.
    trial: int = Field(default=0, ge=0, exclude_if=lambda trial: trial == 0)
    terminal: str | None = None          # the terminal node the condition claims to have reached
    agent_usage: Usage = Field(default_factory=Usage)
    routing_usage: Usage = Field(default_factory=Usage)
    user_usage: Usage = Field(default_factory=Usage)
    wall_clock_s: float = 0.0
    agent_model: str = ""
    user_model: str = ""
    error: str | None = None             # what failed, for agent_error / simulator_error
    # The nodes an orchestrating condition says it was at, one per agent turn (empty for
    # conditions without explicit state). Bookkeeping only: judges never see it.
    visited: list[str] = Field(default_factory=list)
    reused_from: str | None = None       # git ref of the run this transcript was reused from
    incidents: Incidents = Field(default_factory=Incidents)
    # A model call failed after its retries (an outage, or a server stopped by the same
    # interruption): the conversation did not finish, so an interrupted run does not keep it
    # to resume from. Never written out; the error and end reason say the rest.
    cut_by_failed_call: bool = Field(default=False, exclude=True)
    # The scenario's backend copy as the conversation left it (procedures with tools only).
    backend_end: dict | None = Field(default=None, exclude_if=lambda state: state is None)


def write_jsonl(path: Path, records: list[BaseModel]) -> None:
    """Write records atomically (temp file + rename), one JSON object per line."""
    write_atomic(path, "".join(record.model_dump_json() + "\n" for record in records))


def read_jsonl(path: Path, model: type[BaseModel]) -> list:
    out = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(model.model_validate(json.loads(line)))
    return out
