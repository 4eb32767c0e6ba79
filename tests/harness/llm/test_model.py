"""The Model wrapper: usage ledger, sync calls, closing."""

from __future__ import annotations

import asyncio

from harness.llm import ChatRequest, ChatResult, Message, Model, Usage, UsageLedger
from harness.llm.provider import Provider
from tests.harness.llm.calls import answer, answers


class CountingProvider(Provider):
    """A provider that answers at once and counts its calls."""

    provider = "counting"

    def __init__(self) -> None:
        self.model_id = "counter"
        self.name = "counting:counter"
        self.calls = 0
        self.closed = 0

    async def generate(self, request: ChatRequest) -> ChatResult:
        self.calls += 1
        return ChatResult(
            text=str(self.calls),
            usage=Usage(input_tokens=10, output_tokens=2, calls=1),
            model="counter",
        )

    async def aclose(self) -> None:
        self.closed += 1


def ask(purpose: str = "generation") -> ChatRequest:
    return ChatRequest(messages=(Message(role="user", content="hi"),), purpose=purpose)


def test_ledger_adds_per_purpose() -> None:
    ledger = UsageLedger()
    one = Usage(input_tokens=1, output_tokens=2, calls=1)
    ledger.add("generation", one)
    ledger.add("judge", one)
    ledger.add("judge", one)
    assert ledger.total == Usage(input_tokens=3, output_tokens=6, calls=3)
    assert ledger.by_purpose == {"generation": one, "judge": one + one}


def test_model_counts_usage_per_purpose() -> None:
    provider = CountingProvider()
    model = Model(provider)
    answers(model, ask(), ask("routing"), ask("routing"))
    assert model.usage == Usage(input_tokens=30, output_tokens=6, calls=3)
    assert model.ledger.by_purpose["routing"].calls == 2
    assert provider.closed >= 1


def test_model_serves_one_loop_after_another() -> None:
    provider = CountingProvider()
    model = Model(provider)

    async def many() -> list[str]:
        return [r.text for r in await asyncio.gather(*(model.generate(ask()) for _ in range(5)))]

    assert sorted(asyncio.run(many()), key=int) == ["1", "2", "3", "4", "5"]
    assert answer(model, ask()).text == "6"
    assert model.usage.calls == 6


def test_two_callers_recording_one_request_both_answer_with_what_the_cache_keeps(tmp_path) -> None:
    """Processes that ask the same request at once both reach the provider; the cache keeps the
    first answer stored, and the later caller answers with it too, so a replay gives each
    caller the answer it used."""
    from harness.llm.cache import ResponseCache

    path = tmp_path / "llm.sqlite"
    request = ask("same question")
    other = Model(CountingProvider(), cache=ResponseCache(path, "record"))      # answers "1"

    class Racing(CountingProvider):
        async def generate(self, request: ChatRequest) -> ChatResult:
            await other.generate(request)        # the other process records while this one decodes
            self.calls = 41
            return await super().generate(request)                             # live answer "42"

    async def run() -> tuple[str, str]:
        used = await Model(Racing(), cache=ResponseCache(path, "record")).generate(request)
        replayed = await Model(CountingProvider(), cache=ResponseCache(path, "replay")).generate(request)
        return used.text, replayed.text

    assert asyncio.run(run()) == ("1", "1")
