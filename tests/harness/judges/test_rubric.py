from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from harness.judges.rubric import (
    CRITERIA,
    RUBRIC,
    JudgeOutputError,
    Scores,
    apply_challenge_cap,
    parse_judge_output,
    render_judge_prompt,
)
from harness.transcript import Transcript, Turn

ALL_FOUR = dict.fromkeys(CRITERIA, 4)


# ---- the rubric itself --------------------------------------------------------------------

def test_rubric_has_the_five_criteria_in_the_papers_order() -> None:
    assert tuple(spec.key for spec in RUBRIC) == CRITERIA
    assert CRITERIA == ("task_success", "information_accuracy", "consistency",
                        "graceful_handling", "naturalness")


@pytest.mark.parametrize("spec", RUBRIC, ids=lambda s: s.key)
def test_every_level_has_its_own_anchor(spec) -> None:
    assert sorted(spec.anchors) == [1, 2, 3, 4, 5]
    texts = [spec.anchors[level].strip() for level in range(1, 6)]
    assert all(len(t) > 10 for t in texts)
    assert len(set(texts)) == 5


def test_the_papers_anchors_are_kept() -> None:
    anchors = {spec.key: spec.anchors for spec in RUBRIC}
    assert anchors["task_success"][5].startswith("Complete procedure with a clear terminal state")
    assert anchors["task_success"][3].startswith("Middle stages completed but the conversation fizzled")
    assert anchors["task_success"][1].startswith("No meaningful progress")
    assert anchors["information_accuracy"][5].startswith("Every detail")
    assert anchors["information_accuracy"][1].startswith("Fabricated details")
    assert anchors["consistency"][5] == "No contradictions and no repeated questions."
    assert anchors["consistency"][1] == "Contradicts itself repeatedly."
    assert anchors["graceful_handling"][5] == "Smoothly adapts."
    assert anchors["graceful_handling"][1] == "Any deviation breaks the flow."
    assert anchors["naturalness"][5] == "Indistinguishable from a skilled human agent."
    assert anchors["naturalness"][1] == "Mechanical, scripted."
    graceful = next(s for s in RUBRIC if s.key == "graceful_handling")
    assert "Capped at 3" in graceful.note


# ---- Scores and the cap --------------------------------------------------------------------

@pytest.mark.parametrize("bad", [0, 6, -1, 4.5, "4", True, None])
def test_scores_reject_anything_but_an_integer_1_to_5(bad) -> None:
    with pytest.raises(ValidationError):
        Scores(**{**ALL_FOUR, "naturalness": bad})


def test_scores_need_all_five_and_nothing_else() -> None:
    with pytest.raises(ValidationError):
        Scores(**{c: 3 for c in CRITERIA[:4]})
    with pytest.raises(ValidationError):
        Scores(**ALL_FOUR, politeness=5)
    assert Scores(**ALL_FOUR).get("consistency") == 4


@pytest.mark.parametrize(("score", "challenge", "expected"),
                         [(5, False, 3), (4, False, 3), (3, False, 3), (2, False, 2), (5, True, 5), (1, True, 1)])
def test_graceful_handling_is_capped_at_3_without_a_challenge(score, challenge, expected) -> None:
    scores = Scores(**{**ALL_FOUR, "graceful_handling": score})
    capped = apply_challenge_cap(scores, challenge_posed=challenge)
    assert capped.graceful_handling == expected
    assert capped.model_dump(exclude={"graceful_handling"}) == scores.model_dump(exclude={"graceful_handling"})


# ---- parsing the judge's reply ---------------------------------------------------------------

def test_parses_a_bare_object_a_fenced_one_and_one_inside_prose() -> None:
    obj = {"rationale": "fine", **ALL_FOUR, "naturalness": 5}
    expected = Scores(**{**ALL_FOUR, "naturalness": 5})
    assert parse_judge_output(json.dumps(obj)) == expected
    assert parse_judge_output(f"```json\n{json.dumps(obj, indent=2)}\n```") == expected
    assert parse_judge_output(f"Here are my scores: {json.dumps(obj)} Hope this helps.") == expected
    assert parse_judge_output(json.dumps(ALL_FOUR)) == Scores(**ALL_FOUR)     # rationale optional


@pytest.mark.parametrize(("text", "message"), [
    ("I would give it a 4 overall.", "found no JSON object"),
    ('{"task_success": 4, "information_accuracy": 4,', "invalid JSON"),
    ("[4, 4, 4, 4, 4]", "no JSON object"),
    (json.dumps({c: 4 for c in CRITERIA[:3]}), "missing graceful_handling, naturalness"),
    (json.dumps({**ALL_FOUR, "politeness": 5}), "unknown key(s) politeness"),
    (json.dumps({**ALL_FOUR, "consistency": 7}), "consistency=7"),
    (json.dumps({**ALL_FOUR, "consistency": 0}), "consistency=0"),
    (json.dumps({**ALL_FOUR, "task_success": 3.5}), "task_success=3.5"),
    (json.dumps({**ALL_FOUR, "task_success": "4"}), "task_success='4'"),
    (json.dumps({**ALL_FOUR, "rationale": 5}), "rationale of type int"),
    (json.dumps({"scores": {**ALL_FOUR, "naturalness": 5}}), "unknown key(s) scores"),
    (json.dumps({"scores": ALL_FOUR, "verdict": "ok"}), "unknown key(s) scores, verdict"),
])
def test_bad_replies_say_what_was_expected_and_what_was_found(text, message) -> None:
    with pytest.raises(JudgeOutputError) as err:
        parse_judge_output(text)
    assert message in str(err.value)
    assert "expected a JSON object with integer scores 1..5" in str(err.value)


def test_a_stray_brace_in_prose_does_not_hide_the_object() -> None:
    text = "Scores for {this conversation}: " + json.dumps(ALL_FOUR)
    assert parse_judge_output(text) == Scores(**ALL_FOUR)
    with pytest.raises(JudgeOutputError, match="no JSON object"):
        parse_judge_output('["not", "scores"]')


# ---- the prompt ----------------------------------------------------------------------------------

TURNS = [
    Turn(speaker="agent", text="Hello! Where would you like to travel?", node="node_greet_01"),
    Turn(speaker="user", text="Lisbon, in May, for two people.", node="node_destination_02"),
    Turn(speaker="agent", text="Lovely. What is your budget?", node="node_budget_03"),
    Turn(speaker="user", text="About 2000 euros.", node="node_budget_04"),
]


def test_prompt_shows_every_turn_with_its_speaker_and_nothing_else_about_it() -> None:
    prompt = render_judge_prompt(TURNS, procedure_summary="Book a trip: destination, dates, budget, options.")
    for i, turn in enumerate(TURNS, start=1):
        label = "Agent" if turn.speaker == "agent" else "Customer"
        assert f"[{i}] {label}: {turn.text}" in prompt.user
    for turn in TURNS:
        assert turn.node not in prompt.system + prompt.user
    assert "Book a trip" in prompt.user
    messages = prompt.messages()
    assert [m.role for m in messages] == ["system", "user"]
    for spec in RUBRIC:
        assert spec.key in prompt.system
        for level in range(1, 6):
            assert spec.anchors[level] in prompt.system
    assert "Capped at 3" in prompt.system


def test_prompt_is_blind_to_the_condition() -> None:
    prompts = {
        condition: render_judge_prompt(
            Transcript(procedure="travel", condition=condition, scenario_index=3, turns=TURNS,
                       end_reason="terminal", agent_model=model).turns)
        for condition, model in [("subterranean", "local:qwen-3b-compiled"),
                                 ("in_context", "anthropic:claude-sonnet-4-5")]
    }
    assert prompts["subterranean"] == prompts["in_context"]
    text = (prompts["subterranean"].system + prompts["subterranean"].user).lower()
    for word in ("subterranean", "in_context", "in-context", "orchestrat", "langgraph", "compiled",
                 "claude", "qwen", "fine-tun"):
        assert word not in text


def test_prompt_asks_for_json_matching_the_schema() -> None:
    system = render_judge_prompt(TURNS).system
    example = json.loads(system[system.index("Example: ") + len("Example: "):])
    assert parse_judge_output(json.dumps(example)) == Scores(**ALL_FOUR)


def test_prompt_of_an_empty_conversation_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one turn"):
        render_judge_prompt([])
