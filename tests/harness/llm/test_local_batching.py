"""How the local provider groups requests into generate calls (no weights: a recording stand-in)."""

from __future__ import annotations

import asyncio
import time

from harness.llm import ChatRequest, Message, Usage
from harness.llm.local import LocalModel


class Recording(LocalModel):
    """Answers every request with its first message; records each batch's allowances."""

    def __init__(self) -> None:
        super().__init__("recording", model=object(), tokenizer=object())
        self.calls: list[list[int]] = []

    def _generate_batch(self, requests: list[ChatRequest]) -> list[tuple[str, Usage]]:
        self.calls.append(sorted(r.max_tokens for r in requests))
        return [(r.messages[0].content, Usage(calls=1)) for r in requests]


def _request(text: str, max_tokens: int) -> ChatRequest:
    return ChatRequest(messages=(Message(role="user", content=text),), max_tokens=max_tokens)


def test_short_requests_go_first_and_their_follow_ups_join_the_long_batch() -> None:
    """Two conversations route (8 tokens) then reply (96); two reply at once. One short call,
    then one long call with all four replies, not a long call per group."""
    model = Recording()

    async def routed(name: str) -> str:
        await model.generate(_request(f"route {name}", 8))
        return (await model.generate(_request(f"reply {name}", 96))).text

    async def direct(name: str) -> str:
        return (await model.generate(_request(f"reply {name}", 96))).text

    async def main() -> list[str]:
        try:
            return list(await asyncio.gather(routed("a"), direct("b"), routed("c"), direct("d")))
        finally:
            await model.aclose()

    assert asyncio.run(main()) == ["reply a", "reply b", "reply c", "reply d"]
    assert model.calls == [[8, 8], [96, 96, 96, 96]]


def test_a_short_batch_without_follow_ups_does_not_strand_the_long_requests() -> None:
    model = Recording()
    model.regroup_wait_s = 0.05

    async def main() -> list[str]:
        try:
            texts = await asyncio.gather(model.generate(_request("x", 8)), model.generate(_request("y", 96)))
            return [t.text for t in texts]
        finally:
            await model.aclose()

    assert asyncio.run(main()) == ["x", "y"]
    assert model.calls == [[8], [96]]


def test_marked_callers_are_waited_for_however_slow_they_are() -> None:
    """Three conversations marked as callers, each slower to ask than the time window: one
    batch of three per turn, as if they had asked at once. A caller that leaves without asking
    is not waited for."""
    model = Recording()
    model.batch_wait_s = 0.01

    async def conversation(name: str, delay: float, turns: int) -> None:
        with model.caller():
            for turn in range(turns):
                await asyncio.sleep(delay)
                await model.generate(_request(f"{name}{turn}", 96))

    async def main() -> None:
        try:
            await asyncio.gather(conversation("a", 0.0, 2), conversation("b", 0.05, 2), conversation("c", 0.1, 3))
        finally:
            await model.aclose()

    started = time.perf_counter()
    asyncio.run(main())
    assert model.calls == [[96, 96, 96], [96, 96, 96], [96]]
    assert time.perf_counter() - started < model.caller_wait_s      # never waited out the safety limit


def test_without_marked_callers_the_time_window_closes_a_batch() -> None:
    model = Recording()
    model.batch_wait_s = 0.01

    async def late(delay: float) -> None:
        await asyncio.sleep(delay)
        await model.generate(_request("x", 96))

    async def main() -> None:
        try:
            await asyncio.gather(late(0.0), late(0.2))
        finally:
            await model.aclose()

    asyncio.run(main())
    assert model.calls == [[96], [96]]
