"""The rubric judge: one call per transcript to any model of the LLM layer.

The reply must be the rubric's JSON object, and the request says so as its `output`
(`RUBRIC_OUTPUT`): a provider that constrains answers with schema-valid JSON (OpenAI
structured outputs, Anthropic structured output, constrained local decoding), and the
result says it was constrained. Parsing stays for every reply. An invalid reply gets one repair request
(the model sees its reply and what was wrong with it); a second invalid reply is recorded
as a judge failure — never replaced by a default score. The offline model can judge too:
the caller passes the trace-derived scores as the hint, and they travel the same path
(request, JSON, validation) as a real judge's. A call that fails after the LLM layer's
retries (a server error, a context overflow) is a judge failure too, recorded with its error:
one judge's bad day must not stop the gate's other conversations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

from harness.judges.rubric import (
    RUBRIC_OUTPUT,
    JudgeOutputError,
    Scores,
    apply_challenge_cap,
    parse_judge_output,
    render_judge_prompt,
)
from harness.llm.base import ChatModel, ChatRequest, Hint, Message, Usage
from harness.llm.errors import LLMError
from harness.transcript import Turn

# The rubric's reply is five integers and a short rationale: well under 150 tokens from a
# model that follows it. A reply that runs on is not that JSON; it is cut here and repaired
# (800 let a rambling model spend minutes of CPU decoding per call in the rehearsal).
JUDGE_MAX_TOKENS = 400


class JudgeResult(BaseModel):
    judge: str                      # the judge as the suite names it (the same whether it failed or not)
    model: str = ""                 # the concrete model id that answered, when one did
    scores: Scores | None           # None when the judge failed
    failure: str | None = None      # what was wrong with its last reply
    rationale: str | None = None
    usage: Usage = Usage()
    repaired: bool = False          # the first reply was invalid, the repair request's was valid
    invalid_replies: int = 0        # replies that were not the rubric's JSON (0, 1 or 2)
    call_failed: bool = False       # the failure is a failed call, not an unparseable reply
    # The provider enforced the rubric's schema on the (last) reply; free text parsed otherwise.
    constrained: bool = Field(default=False, exclude_if=lambda value: not value)


async def judge_transcript(model: ChatModel, turns: Sequence[Turn], *, challenge_posed: bool,
                           offline_scores: Mapping[str, int] | None = None,
                           procedure_summary: str | None = None, seed: int = 0) -> JudgeResult:
    """Score one conversation blind (the judge never learns the condition)."""
    name = getattr(model, "name", "unknown")
    if not turns:   # a conversation whose first call failed: nothing to score, nothing to ask
        return JudgeResult(judge=name, scores=None, failure="the conversation has no turns to judge")
    prompt = render_judge_prompt(turns, procedure_summary=procedure_summary)
    hint = Hint(task="judge", verdict={"scores": dict(offline_scores)}) if offline_scores else None
    messages = list(prompt.messages())
    usage = Usage()
    error: JudgeOutputError | None = None
    for attempt in range(2):
        request = ChatRequest(messages=tuple(messages), max_tokens=JUDGE_MAX_TOKENS, temperature=0.0, seed=seed,
                              trial=attempt, hint=hint, purpose="judge", output=RUBRIC_OUTPUT)
        try:
            result = await model.generate(request)
        except LLMError as e:
            return JudgeResult(judge=name, scores=None, failure=f"the judge's call failed: {e}", usage=usage,
                               invalid_replies=attempt, call_failed=True)
        usage = usage + result.usage
        try:
            scores = parse_judge_output(result.text)
        except JudgeOutputError as e:
            error = e
            messages += [Message(role="assistant", content=result.text),
                         Message(role="user", content=f"That reply is not valid: {e}. Reply again with "
                                                      "only the JSON object the rubric asks for.")]
            continue
        return JudgeResult(judge=name, model=result.model, usage=usage, repaired=attempt > 0, invalid_replies=attempt,
                           scores=apply_challenge_cap(scores, challenge_posed=challenge_posed),
                           constrained=result.constrained)
    return JudgeResult(judge=name, model=result.model, scores=None, failure=str(error), usage=usage,
                       invalid_replies=2, constrained=result.constrained)

