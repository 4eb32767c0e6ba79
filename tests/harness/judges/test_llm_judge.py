from __future__ import annotations

import asyncio
import json

from harness.judges.llm_judge import judge_transcript
from harness.llm.base import ChatModel, ChatRequest, ChatResult, Usage
from harness.llm.offline import OfflineModel
from harness.transcript import Turn

TURNS = [Turn(speaker="agent", text="Hello! Where would you like to go?"),
         Turn(speaker="user", text="Peru, for ten days."),
         Turn(speaker="agent", text="Ten days in Peru: booked!")]
GOOD = {"task_success": 5, "information_accuracy": 4, "consistency": 5, "graceful_handling": 5,
        "naturalness": 4}


class Scripted(ChatModel):
    """Replies with the given texts in order and records what it was asked."""

    name = "scripted"

    def __init__(self, *replies: str) -> None:
        self.replies, self.requests = list(replies), []

    async def generate(self, request: ChatRequest) -> ChatResult:
        self.requests.append(request)
        return ChatResult(text=self.replies.pop(0), usage=Usage(input_tokens=10, output_tokens=5, calls=1),
                          model=self.name)


def test_offline_judge_returns_the_trace_scores_through_the_same_path() -> None:
    result = asyncio.run(judge_transcript(OfflineModel(), TURNS, challenge_posed=True, offline_scores=GOOD))
    assert result.scores is not None and result.scores.model_dump() == GOOD
    assert "offline" in result.judge and result.usage.input_tokens > 0


def test_graceful_handling_is_capped_without_a_challenge() -> None:
    result = asyncio.run(judge_transcript(OfflineModel(), TURNS, challenge_posed=False, offline_scores=GOOD))
    assert result.scores.graceful_handling == 3


def test_invalid_reply_gets_one_repair_then_succeeds() -> None:
    model = Scripted("I think it went well.", json.dumps(GOOD))
    result = asyncio.run(judge_transcript(model, TURNS, challenge_posed=True))
    assert result.repaired and result.scores.model_dump() == GOOD
    repair = model.requests[1].messages
    assert repair[-2].content == "I think it went well." and "not valid" in repair[-1].content
    assert result.usage.input_tokens == 20


def test_two_invalid_replies_are_a_recorded_failure_not_a_default() -> None:
    bad = json.dumps({**GOOD, "naturalness": 9})
    result = asyncio.run(judge_transcript(Scripted(bad, bad), TURNS, challenge_posed=True))
    assert result.scores is None and "naturalness=9" in result.failure


def test_prompt_is_blind() -> None:
    model = Scripted(json.dumps(GOOD))
    turns = [Turn(speaker=t.speaker, text=t.text, node="secret_node_id") for t in TURNS]
    asyncio.run(judge_transcript(model, turns, challenge_posed=True))
    text = " ".join(m.content for m in model.requests[0].messages)
    assert "secret_node_id" not in text and "subterranean" not in text
