"""The quality rubric: five criteria scored 1–5 with a behavioural anchor at every level.

The criteria and their 5/3/1 anchors are the paper's (§3); the anchors the paper leaves
out (4 and 2, and 3 where it gives only 5 and 1) are written in the same spirit, each one
step between its neighbours. Graceful handling is capped at 3 when the user posed no
challenge: an agent cannot show it adapts to changes nobody made.

An LLM judge uses this module in three steps:

    prompt = render_judge_prompt(transcript.turns, procedure_summary=...)
    text = <ask the judge model with prompt.messages()>
    scores = parse_judge_output(text)

The prompt is blind: it shows the conversation as "Agent" and "Customer" lines only, never
the condition, the model or the flowchart node labels a turn carries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.llm.base import Message, OutputSchema
from harness.transcript import Turn

__all__ = [
    "CRITERIA",
    "FAILURE_AT_OR_BELOW",
    "GRACEFUL_CAP_WITHOUT_CHALLENGE",
    "RUBRIC",
    "Criterion",
    "CriterionSpec",
    "JudgeOutputError",
    "JudgePrompt",
    "RATIONALE_MAX_CHARS",
    "RUBRIC_OUTPUT",
    "Scores",
    "apply_challenge_cap",
    "parse_judge_output",
    "render_judge_prompt",
]

Criterion = Literal[
    "task_success", "information_accuracy", "consistency", "graceful_handling", "naturalness"
]
CRITERIA: tuple[Criterion, ...] = get_args(Criterion)
GRACEFUL_CAP_WITHOUT_CHALLENGE = 3
# The paper's failure: a conversation whose task success is at or below this.
FAILURE_AT_OR_BELOW = 3

Score = Annotated[int, Field(strict=True, ge=1, le=5)]


class CriterionSpec(BaseModel):
    """One criterion: the question the judge answers and what each score level looks like."""

    model_config = ConfigDict(frozen=True)

    key: Criterion
    title: str
    question: str
    anchors: dict[int, str]          # score (1..5) -> behaviour that earns it
    note: str = ""


RUBRIC: tuple[CriterionSpec, ...] = (
    CriterionSpec(
        key="task_success",
        title="Task Success",
        question=(
            "Did the agent execute the procedure correctly through to an appropriate terminal "
            "state, with consistent and accurate handling at each decision point?"
        ),
        anchors={
            5: "Complete procedure with a clear terminal state (e.g. booking confirmed, issue "
               "resolved, claim settled, or a proper escalation or exit); every decision point "
               "handled correctly.",
            4: "Reaches an appropriate terminal state, but one decision point is handled late or "
               "awkwardly, or a minor step is skipped, without changing the outcome.",
            3: "Middle stages completed but the conversation fizzled: no clear terminal state, or "
               "it ends in a terminal state that does not fit what the customer wanted.",
            2: "Only the opening stages are completed (e.g. greeting and a first question); the "
               "conversation stalls or derails before the core of the procedure.",
            1: "No meaningful progress through the procedure.",
        },
    ),
    CriterionSpec(
        key="information_accuracy",
        title="Information Accuracy",
        question="Did the agent correctly use and retain all user-provided information?",
        anchors={
            5: "Every detail the customer gave is correctly reflected.",
            4: "All key details are correct; one minor detail is imprecise or asked for again, "
               "without consequence.",
            3: "Mostly correct, but one substantive detail is wrong, dropped, or has to be "
               "corrected by the customer.",
            2: "Several details are wrong, forgotten or mixed up; the customer has to repeat or "
               "correct themselves more than once.",
            1: "Fabricated details, or the customer's input is ignored.",
        },
    ),
    CriterionSpec(
        key="consistency",
        title="Consistency",
        question="Did the agent maintain coherent state across the conversation?",
        anchors={
            5: "No contradictions and no repeated questions.",
            4: "One minor lapse: a single redundant question or a small, harmless inconsistency.",
            3: "A few lapses: re-asks something already answered or briefly contradicts an earlier "
               "statement, then recovers.",
            2: "Frequent lapses: repeatedly re-asks, or contradicts earlier statements on "
               "something that matters.",
            1: "Contradicts itself repeatedly.",
        },
    ),
    CriterionSpec(
        key="graceful_handling",
        title="Graceful Handling",
        question="How well did the agent handle changes, ambiguity, and edge cases?",
        anchors={
            5: "Smoothly adapts.",
            4: "Adapts correctly, with a little friction (an extra clarifying question, a short "
               "detour).",
            3: "Copes, but clumsily: restarts a stage, overlooks part of a change, or needs the "
               "customer to push before adapting.",
            2: "Mostly mishandles changes or ambiguity; the flow only partly recovers.",
            1: "Any deviation breaks the flow.",
        },
        note=(
            "Capped at 3 if the user posed no challenges (no change of mind, ambiguity, "
            "correction, objection, off-script request or other edge case)."
        ),
    ),
    CriterionSpec(
        key="naturalness",
        title="Naturalness",
        question="Does the conversation read like talking to a skilled human agent?",
        anchors={
            5: "Indistinguishable from a skilled human agent.",
            4: "Reads like a competent human agent, with occasional stiff or formulaic phrasing.",
            3: "Conversational, but clearly templated in places (stock phrases, abrupt "
               "transitions, uneven pacing).",
            2: "Mostly mechanical: repetitive templates, lists of questions dumped at once, "
               "little responsiveness to what the customer said.",
            1: "Mechanical, scripted.",
        },
    ),
)


class Scores(BaseModel):
    """One conversation's five rubric scores, each an integer 1..5."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_success: Score
    information_accuracy: Score
    consistency: Score
    graceful_handling: Score
    naturalness: Score

    def get(self, criterion: Criterion) -> int:
        return int(getattr(self, criterion))


def apply_challenge_cap(scores: Scores, *, challenge_posed: bool) -> Scores:
    """Cap graceful handling at 3 when the user posed no challenge; otherwise unchanged."""
    if challenge_posed or scores.graceful_handling <= GRACEFUL_CAP_WITHOUT_CHALLENGE:
        return scores
    return scores.model_copy(update={"graceful_handling": GRACEFUL_CAP_WITHOUT_CHALLENGE})


# ---- the judge's output ---------------------------------------------------------------

# Short enough that a constrained reply always closes within the judge's token allowance
# (a character per token at worst, plus the keys), long enough for a sentence or two.
RATIONALE_MAX_CHARS = 240

# The reply's shape as a JSON Schema, for providers that constrain (vendor structured
# outputs, local constrained decoding): every key required, nothing else, scores 1..5.
RUBRIC_OUTPUT = OutputSchema(name="rubric", json_schema={
    "type": "object",
    "properties": {
        "rationale": {"type": "string", "maxLength": RATIONALE_MAX_CHARS,
                      "description": "a short explanation of the scores"},
        **{spec.key: {"type": "integer", "enum": [1, 2, 3, 4, 5], "description": spec.title}
           for spec in RUBRIC},
    },
    "required": ["rationale", *CRITERIA],
    "additionalProperties": False,
})

class JudgeOutputError(ValueError):
    """The judge's reply is not the JSON object the rubric asks for."""


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_EXPECTED = "a JSON object with integer scores 1..5 for " + ", ".join(CRITERIA)


def _snippet(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit] + "…")


def parse_judge_output(text: str) -> Scores:
    """The `Scores` in a judge's reply.

    Accepts the bare JSON object, one inside a ```json fence, or the first JSON object in
    the text (models sometimes add a sentence around it). Raises `JudgeOutputError` naming
    what was expected and what was found when the JSON is invalid, a criterion is missing
    or unknown, or a score is not an integer 1..5.
    """
    fenced = _FENCE.search(text)
    body = fenced.group(1) if fenced else text
    starts = [m.start() for m in re.finditer(r"\{", body)]
    if not starts:
        raise JudgeOutputError(f"expected {_EXPECTED}; found no JSON object in {_snippet(text)}")
    decoder, errors, data = json.JSONDecoder(), [], None
    for start in starts:        # a stray "{" in surrounding prose must not hide the object after it
        try:
            data, _ = decoder.raw_decode(body, start)      # from a "{", always a dict
            break
        except json.JSONDecodeError as err:
            errors.append(err)
    if data is None:
        err = errors[0]
        raise JudgeOutputError(
            f"expected {_EXPECTED}; found invalid JSON ({err.msg} at line {err.lineno} "
            f"column {err.colno}) in {_snippet(body[starts[0]:])}"
        ) from err
    if "rationale" in data and not isinstance(data["rationale"], str):
        raise JudgeOutputError(
            f"expected {_EXPECTED} and a string rationale; found rationale of type "
            f"{type(data['rationale']).__name__}"
        )
    missing = [c for c in CRITERIA if c not in data]
    unknown = sorted(set(data) - set(CRITERIA) - {"rationale"})
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown key(s) {', '.join(unknown)}")
        raise JudgeOutputError(f"expected {_EXPECTED}; found {'; '.join(parts)}")
    try:
        return Scores.model_validate({c: data[c] for c in CRITERIA})
    except ValidationError as err:
        problems = "; ".join(
            f"{e['loc'][0]}={e['input']!r} ({e['msg']})" for e in err.errors()
        )
        raise JudgeOutputError(f"expected {_EXPECTED}; found {problems}") from err


# ---- the judge's prompt ---------------------------------------------------------------

class JudgePrompt(BaseModel):
    model_config = ConfigDict(frozen=True)

    system: str
    user: str

    def messages(self) -> tuple[Message, ...]:
        return (Message(role="system", content=self.system), Message(role="user", content=self.user))


_SPEAKER_LABEL = {"agent": "Agent", "user": "Customer", "tool": "Tool result"}


def _turn_line(turn: Turn) -> str:
    """One turn as the judge reads it; a tool call shows which tool, with which arguments."""
    if turn.speaker == "agent" and turn.tool_call is not None:
        call = f"(calls tool {turn.tool_call.name} with {json.dumps(turn.tool_call.arguments, ensure_ascii=False)})"
        return f"Agent: {turn.text.strip()} {call}".replace(":  ", ": ")
    return f"{_SPEAKER_LABEL[turn.speaker]}: {turn.text.strip()}"


def _rubric_text() -> str:
    blocks = []
    for spec in RUBRIC:
        lines = [f"{spec.key} ({spec.title}): {spec.question}"]
        lines += [f"  {level} = {spec.anchors[level]}" for level in (5, 4, 3, 2, 1)]
        if spec.note:
            lines.append(f"  Note: {spec.note}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def render_judge_prompt(turns: Sequence[Turn], *, procedure_summary: str | None = None) -> JudgePrompt:
    """The judge's system and user messages for one conversation.

    Only each turn's speaker and text are shown; the node a turn is labelled with is not,
    and nothing about which system produced the conversation is. `procedure_summary`, if
    given, describes what the agent was meant to do; pass the same text for every
    condition so the prompt stays blind.
    """
    if not turns:
        raise ValueError("expected a conversation with at least one turn, found none")
    system = (
        "You are an impartial evaluator of customer-service conversations. You will read one "
        "conversation between an agent and a customer and score the agent on five criteria, "
        "each from 1 (worst) to 5 (best), using the behavioural anchors below. Judge only what "
        "is in the conversation. Use the full scale; pick the anchor that fits best.\n\n"
        f"{_rubric_text()}\n\n"
        "Reply with a single JSON object and nothing else, with exactly these keys: "
        '"rationale" (a short string explaining the scores) and the integers '
        + ", ".join(f'"{c}"' for c in CRITERIA)
        + ". Example: "
        + json.dumps({"rationale": "…", **{c: 4 for c in CRITERIA}}, ensure_ascii=False)
    )
    lines = []
    if procedure_summary:
        lines += ["The procedure the agent is meant to follow:", procedure_summary.strip(), ""]
    lines.append("The conversation:")
    for i, turn in enumerate(turns, start=1):
        lines.append(f"[{i}] {_turn_line(turn)}")
    lines += ["", "Score the agent now. Reply with the JSON object only."]
    return JudgePrompt(system=system, user="\n".join(lines))
