"""The offline stand-in model: deterministic turns, lexical routing, pass-through judging."""

from __future__ import annotations

import json

import pytest

from harness.llm import ChatRequest, Hint, LLMCallError, Message, get_model
from harness.llm.offline import OfflineHintError, OfflineModel, choose_option, usage_tokenizer
from harness.llm.weights import CHATML_TEMPLATE
from harness.templates import TemplateFailure
from tests.harness.llm.calls import answer, answers

EXAMPLES = (
    "Hello {{ name }}, how can I help?",
    "Hi {{ name }}! What brings you here today?",
    "Good morning {{ name }}. What can I do for you?",
    "Welcome back, {{ name }}.",
)
OPTIONS = {
    "refund_request": ("customer wants a refund", "give me my money back"),
    "change_flight": ("customer wants to change the date of a flight", "reschedule my trip"),
    "lost_baggage": ("lost luggage", "my bag did not arrive"),
}


def turn(
    content: str = "Hi",
    *,
    seed: int | None = 7,
    trial: int = 0,
    examples: tuple[str, ...] = EXAMPLES,
) -> ChatRequest:
    return ChatRequest(
        messages=(Message(role="user", content=content),),
        seed=seed,
        trial=trial,
        hint=Hint(
            task="turn", speaker="agent", node="greet", examples=examples, variables={"name": "Ann"}
        ),
    )


def generate(request: ChatRequest, label: str | None = None) -> str:
    return answer(OfflineModel(label), request).text


def test_turn_renders_an_example_with_the_variables() -> None:
    assert generate(turn()) in {e.replace("{{ name }}", "Ann") for e in EXAMPLES}


def test_turn_is_deterministic_for_a_seed_and_differs_across_trials() -> None:
    assert generate(turn(seed=7)) == generate(turn(seed=7))
    by_trial = [generate(turn(trial=t)) for t in range(12)]
    assert by_trial == [generate(turn(trial=t)) for t in range(12)]
    assert len(set(by_trial)) >= 3
    assert len({generate(turn(seed=s)) for s in range(12)}) >= 3


def test_usage_is_counted_with_the_smollm2_tokenizer() -> None:
    request = turn("I would like to change my booking, please.")
    result = answer(OfflineModel(), request)
    tokenizer = usage_tokenizer()
    assert len(tokenizer) == 49152  # SmolLM2's vocabulary
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": request.messages[0].content}],
        chat_template=CHATML_TEMPLATE,
        add_generation_prompt=True,
        tokenize=True,
        return_dict=False,
    )
    assert result.usage.input_tokens == len(prompt) > len(request.messages[0].content.split())
    assert (
        result.usage.output_tokens
        == len(tokenizer.encode(result.text, add_special_tokens=False))
        > 0
    )
    assert result.usage.calls == 1


def test_model_id_always_says_offline() -> None:
    assert answer(OfflineModel(), turn()).model == "offline"
    assert answer(OfflineModel("judge"), turn()).model == "offline:judge"
    model = get_model("offline:simulator")
    assert model.name == "offline:simulator" and "offline" in answer(model, turn()).model


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I would like my money refunded please", "refund_request"),
        ("Can you reschedule my flight to next Tuesday?", "change_flight"),
        ("My suitcase never showed up, my bag is lost", "lost_baggage"),
        ("refund", "refund_request"),
    ],
)
def test_route_picks_the_closest_option(text: str, expected: str) -> None:
    assert choose_option(text, OPTIONS) == expected


def test_route_reads_the_latest_user_message_and_ties_go_to_the_first_option() -> None:
    request = ChatRequest(
        messages=(
            Message(role="user", content="I want a refund"),
            Message(role="assistant", content="Sure, a refund. Anything else?"),
            Message(role="user", content="Actually my bag did not arrive"),
            Message(role="assistant", content="refund refund refund"),
        ),
        hint=Hint(task="route", options=OPTIONS),
    )
    assert generate(request) == "lost_baggage"
    assert choose_option("zzz qqq", OPTIONS) == "refund_request"
    assert choose_option("the", OPTIONS) == "refund_request"  # stop words only


def test_judge_returns_the_precomputed_scores_as_json() -> None:
    verdict = {"scores": {"adherence": 5, "tone": 4}, "rationale": "followed every step"}
    request = ChatRequest(
        messages=(Message(role="user", content="Rate this"),),
        hint=Hint(task="judge", verdict=verdict),
    )
    assert json.loads(generate(request)) == {"adherence": 5, "tone": 4, "rationale": "followed every step"}
    bare = ChatRequest(
        messages=request.messages, hint=Hint(task="judge", verdict={"scores": {"tone": 1}})
    )
    assert json.loads(generate(bare))["tone"] == 1


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (ChatRequest(messages=(Message(role="user", content="hi"),)), "needs request.hint"),
        (turn(examples=()), "no examples"),
        (
            ChatRequest(messages=(Message(role="user", content="hi"),), hint=Hint(task="route")),
            "hint.options",
        ),
        (
            ChatRequest(
                messages=(Message(role="system", content="x"),),
                hint=Hint(task="route", options=OPTIONS),
            ),
            "user message",
        ),
        (
            ChatRequest(messages=(Message(role="user", content="hi"),), hint=Hint(task="judge")),
            "verdict\\['scores'\\]",
        ),
    ],
)
def test_missing_material_is_a_clear_error(request_: ChatRequest, message: str) -> None:
    with pytest.raises(OfflineHintError, match=message):
        generate(request_)
    with pytest.raises(LLMCallError, match=message):
        answer(get_model("offline"), request_)


def test_templates_are_strict_and_sandboxed() -> None:
    with pytest.raises(TemplateFailure, match="template error: .*'surname'"):  # names it, in words of jinja2's
        generate(turn(examples=("Hello {{ surname }}",)))
    with pytest.raises(TemplateFailure, match="sandbox refused"):
        generate(turn(examples=("{{ name.__class__.__mro__[1].__subclasses__() }}",)))


def test_usage_ledger_counts_offline_calls_per_purpose() -> None:
    model = get_model("offline")
    answers(model, turn(), turn().model_copy(update={"purpose": "simulation"}))
    assert model.usage.calls == 2
    assert set(model.ledger.by_purpose) == {"generation", "simulation"}


def test_hub_turn_speaks_the_example_of_the_branch_taken() -> None:
    examples = ("Yes please, book the {{ place }} trip.", "No thanks, I will look elsewhere for now.")
    for toward, expected in (("the customer says yes and wants to book it", 0),
                             ("the customer says no thanks and will look elsewhere", 1)):
        for seed in range(5):
            request = ChatRequest(messages=(Message(role="user", content="Shall I book?"),), seed=seed,
                                  hint=Hint(task="turn", examples=examples, variables={"place": "Peru"},
                                            toward=toward))
            assert generate(request) == ["Yes please, book the Peru trip.",
                                         "No thanks, I will look elsewhere for now."][expected]
