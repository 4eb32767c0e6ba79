"""Conversations and transcripts: the records that flow between compile, runner and judges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from harness.files import write_atomic
from harness.llm.base import Usage

Speaker = Literal["agent", "user"]
EndReason = Literal["terminal", "user_ended", "turn_cap", "agent_error", "simulator_error"]


class Turn(BaseModel):
    speaker: Speaker
    text: str
    # The flowchart node this turn realises. Known for synthetic data (the generator was
    # told), inferred by the trace judge for evaluation transcripts; never shown to models.
    node: str | None = None


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


class Transcript(BaseModel):
    """One evaluated conversation between a condition and the simulated user."""

    procedure: str
    condition: str
    scenario_index: int
    turns: list[Turn]
    end_reason: EndReason
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
