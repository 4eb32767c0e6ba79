"""The local transformers provider on SmolLM2-135M-Instruct (GGUF), batched decoding.

Loading the model takes ~15-20 s on 2 CPU cores, so one loaded model serves the module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.llm import ChatRequest, ChatResult, LLMCallError, Message, get_model
from harness.llm.local import LocalModel
from tests.harness.llm.calls import answer
from tests.harness.llm.conftest import offline_smollm

pytestmark = pytest.mark.slow

QUESTIONS = (
    "What is the capital of France?",
    "Say hello.",
    "Name a colour.",
    "What is 2+2? Answer briefly.",
)


def ask(text: str, **fields: object) -> ChatRequest:
    return ChatRequest(messages=(Message(role="user", content=text),), max_tokens=6, **fields)



@pytest.fixture(scope="module")
def smollm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalModel]:
    with offline_smollm(tmp_path_factory) as model:
        yield model


def test_loads_from_the_gguf_offline_and_answers(smollm: LocalModel) -> None:
    result = answer(smollm, ask("What is the capital of France?"))
    assert "Paris" in result.text
    assert result.model == "local:smollm2-135m"
    assert 0 < result.usage.output_tokens <= 6 and result.usage.input_tokens > 5


def test_batched_greedy_decoding_matches_one_at_a_time(smollm: LocalModel) -> None:
    requests = [ask(q) for q in QUESTIONS]

    async def both() -> tuple[list[ChatResult], list[ChatResult]]:
        one_by_one = [await smollm.generate(r) for r in requests]
        before = len(smollm.batch_sizes)
        together = await asyncio.gather(*(smollm.generate(r) for r in requests))
        assert smollm.batch_sizes[before:] == [len(requests)]  # one generate call for all
        return one_by_one, list(together)

    one_by_one, together = asyncio.run(both())
    assert [r.text for r in together] == [r.text for r in one_by_one]
    assert [r.usage for r in together] == [r.usage for r in one_by_one]
    assert (
        len({r.usage.input_tokens for r in together}) > 1
    )  # prompts of different lengths were padded


def test_seeded_sampling_is_reproducible_and_independent_of_the_batch(smollm: LocalModel) -> None:
    sampled = [ask(q, temperature=1.0, seed=5) for q in QUESTIONS[:3]]

    async def run() -> tuple[list[str], list[str], list[str]]:
        alone = [(await smollm.generate(r)).text for r in sampled]
        batched = [r.text for r in await asyncio.gather(*(smollm.generate(r) for r in sampled))]
        other_trials = [
            (await smollm.generate(r.model_copy(update={"trial": 1}))).text for r in sampled
        ]
        return alone, batched, other_trials

    alone, batched, other_trials = asyncio.run(run())
    assert alone == batched
    assert other_trials != alone


def test_stop_sequences_cut_the_text(smollm: LocalModel) -> None:
    full = answer(smollm, ask("What is the capital of France?")).text
    assert " of " in full
    cut = answer(smollm, ask("What is the capital of France?", stop=(" of ",))).text
    assert cut == full[: full.index(" of ")]


def test_get_model_accepts_loaded_weights(smollm: LocalModel) -> None:
    model, tokenizer = smollm.load()
    wrapped = get_model("local:smollm2-135m", model=model, tokenizer=tokenizer)
    assert wrapped.cache is None  # weights at a path can change: not cached by default
    result = answer(wrapped, ask("Say hello."))
    assert result.text == answer(smollm, ask("Say hello.")).text
    assert wrapped.usage == result.usage


def test_missing_weights_fail_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LLMCallError, match="FileNotFoundError.*not found"):
        answer(get_model(f"local:{tmp_path / 'missing.gguf'}"), ask("hi"))


def test_later_turns_reuse_earlier_turns_and_decode_the_same_replies(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Two turns of three conversations, and a fourth that starts in the second batch (a row
    with nothing to reuse beside rows that reuse): the same greedy replies as recomputing every
    prompt, in fp32 (the comparison is of reuse, not of precisions)."""
    import torch

    openers = ("I want to book a trip to Rome.", "My flight was cancelled.", "Hello! Can you help me?")

    async def converse(model: LocalModel) -> list[str]:
        histories = [[Message(role="user", content=text)] for text in openers]
        first = await asyncio.gather(*(model.generate(ChatRequest(messages=tuple(h), max_tokens=12))
                                       for h in histories))
        for history, result in zip(histories, first, strict=True):
            history += [Message(role="assistant", content=result.text), Message(role="user", content="Thanks, go on.")]
        histories.append([Message(role="user", content="What is 2+2?")])
        second = await asyncio.gather(*(model.generate(ChatRequest(messages=tuple(h), max_tokens=12))
                                        for h in histories))
        return [r.text for r in (*first, *second)]

    with offline_smollm(tmp_path_factory, dtype=torch.float32) as reusing:
        model, tokenizer = reusing.load()
        recomputing = LocalModel(model=model, tokenizer=tokenizer, reuse_prefixes=False)
        try:
            assert asyncio.run(converse(reusing)) == asyncio.run(converse(recomputing))
        finally:
            asyncio.run(recomputing.aclose())
        prefixes = reusing._prefixes
        assert prefixes is not None and prefixes.reused_tokens > prefixes.prompt_tokens // 3
