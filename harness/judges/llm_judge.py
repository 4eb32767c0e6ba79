"""The rubric judge: one call per transcript to any model of the LLM layer.

The reply must be the rubric's JSON object. An invalid reply gets one repair request
(the model sees its reply and what was wrong with it); a second invalid reply is recorded
as a judge failure — never replaced by a default score. The offline model can judge too:
the caller passes the trace-derived scores as the hint, and they travel the same path
(request, JSON, validation) as a real judge's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel

from harness.judges.rubric import (
    JudgeOutputError,
    Scores,
    apply_challenge_cap,
    parse_judge_output,
    render_judge_prompt,
)
from harness.llm.base import ChatModel, ChatRequest, Hint, Message, Usage
from harness.transcript import Turn


class JudgeResult(BaseModel):
    judge: str                      # the model id that judged
    scores: Scores | None           # None when the judge failed
    failure: str | None = None      # what was wrong with its last reply
    rationale: str | None = None
    usage: Usage = Usage()
    repaired: bool = False


async def judge_transcript(model: ChatModel, turns: Sequence[Turn], *, challenge_posed: bool,
                           offline_scores: Mapping[str, int] | None = None,
                           procedure_summary: str | None = None, seed: int = 0) -> JudgeResult:
    """Score one conversation blind (the judge never learns the condition)."""
    prompt = render_judge_prompt(turns, procedure_summary=procedure_summary)
    hint = Hint(task="judge", verdict={"scores": dict(offline_scores)}) if offline_scores else None
    messages = list(prompt.messages())
    usage = Usage()
    error: JudgeOutputError | None = None
    for attempt in range(2):
        request = ChatRequest(messages=tuple(messages), max_tokens=800, temperature=0.0, seed=seed,
                              trial=attempt, hint=hint, purpose="judge")
        result = await model.generate(request)
        usage = usage + result.usage
        try:
            scores = parse_judge_output(result.text)
        except JudgeOutputError as e:
            error = e
            messages += [Message(role="assistant", content=result.text),
                         Message(role="user", content=f"That reply is not valid: {e}. Reply again with "
                                                      "only the JSON object the rubric asks for.")]
            continue
        return JudgeResult(judge=result.model, scores=apply_challenge_cap(scores, challenge_posed=challenge_posed),
                           usage=usage, repaired=attempt > 0)
    return JudgeResult(judge=getattr(model, "name", "unknown"), scores=None, failure=str(error), usage=usage)

