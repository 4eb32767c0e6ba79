"""Calling a model from a synchronous test the way a script does: on one event loop, closed after."""

from __future__ import annotations

import asyncio

from harness.llm import ChatModel, ChatRequest, ChatResult


def answers(model: ChatModel, *requests: ChatRequest) -> list[ChatResult]:
    """Each request answered in turn on one event loop; the model is closed afterwards, also on error."""

    async def ask_all() -> list[ChatResult]:
        try:
            return [await model.generate(request) for request in requests]
        finally:
            await model.aclose()

    return asyncio.run(ask_all())


def answer(model: ChatModel, request: ChatRequest) -> ChatResult:
    """One request answered, then the model closed."""
    return answers(model, request)[0]
