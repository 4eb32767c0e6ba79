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


def test_a_reply_missing_criteria_is_repaired_and_counted() -> None:
    partial = json.dumps({k: v for k, v in GOOD.items() if k != "consistency"})
    result = asyncio.run(judge_transcript(Scripted(partial, json.dumps(GOOD)), TURNS, challenge_posed=True))
    assert result.repaired and result.invalid_replies == 1 and not result.call_failed
    assert result.scores.model_dump() == GOOD
    assert result.judge == "scripted" and result.model == "scripted"


def test_a_failed_judge_call_is_a_recorded_failure_not_a_crash() -> None:
    from harness.llm.errors import LLMCallError

    class Failing(Scripted):
        async def generate(self, request: ChatRequest) -> ChatResult:
            if request.trial == 1:
                raise LLMCallError("scripted", 1, RuntimeError("context length exceeded"), retryable=False)
            return await super().generate(request)

    result = asyncio.run(judge_transcript(Failing("not json"), TURNS, challenge_posed=True))
    assert result.scores is None and result.call_failed and result.invalid_replies == 1
    assert "context length exceeded" in result.failure and result.usage.calls == 1


def test_a_conversation_without_turns_is_a_recorded_failure_not_a_crash() -> None:
    result = asyncio.run(judge_transcript(OfflineModel("judge"), [], challenge_posed=False))
    assert result.scores is None and "no turns" in result.failure and result.usage.calls == 0


def test_the_judge_asks_for_the_rubric_as_a_schema_and_says_when_it_was_held_to_it() -> None:
    import jsonschema
    import pytest

    from harness.judges.rubric import RATIONALE_MAX_CHARS, RUBRIC_OUTPUT

    class Constraining(Scripted):
        async def generate(self, request: ChatRequest) -> ChatResult:
            result = await super().generate(request)
            return result.model_copy(update={"constrained": True})

    reply = json.dumps({"rationale": "fine", **GOOD})
    model = Constraining(reply)
    result = asyncio.run(judge_transcript(model, TURNS, challenge_posed=True))
    schema = model.requests[0].output.json_schema
    assert model.requests[0].output == RUBRIC_OUTPUT
    jsonschema.validate(json.loads(reply), schema)           # the rubric's reply fits its schema
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**GOOD, "rationale": "x", "naturalness": 6}, schema)
    assert schema["properties"]["rationale"]["maxLength"] == RATIONALE_MAX_CHARS
    assert result.constrained and result.scores.model_dump() == GOOD
    # A provider that cannot constrain: parsed as before, and not counted as constrained.
    plain = asyncio.run(judge_transcript(Scripted(reply), TURNS, challenge_posed=True))
    assert not plain.constrained and "constrained" not in plain.model_dump(mode="json")
