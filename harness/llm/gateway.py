"""A local gateway that answers the Anthropic Messages and OpenAI Chat Completions APIs with
one locally served model: what the rehearsal points the official SDKs at.

    python -m harness.llm.gateway --backend http://127.0.0.1:8001/v1 --model /path/served --port 8765
    ANTHROPIC_BASE_URL=http://127.0.0.1:8765  OPENAI_BASE_URL=http://127.0.0.1:8765/v1

The backend is an OpenAI-compatible server (`transformers serve`, see `harness.llm.serving`).
`POST /v1/chat/completions` is passed through unchanged but for `model`, which a pinned
backend insists on. `POST /v1/messages` is translated: system and messages (string or text
blocks) become chat messages, `stop_sequences` `stop`, and the completion an Anthropic
`Message` (built with the SDK's own type) with the usage the backend counted.

Why a thin adapter: no server that speaks the Messages API installs here without changing
the project's pins. LiteLLM's proxy (`litellm[proxy]`) would downgrade huggingface_hub
(2.4 → 1.33, below what transformers 5.24 needs) and rich, and pull ~70 packages (boto3,
azure, polars, psycopg...); llama.cpp's server has /v1/messages but ships no wheel or
binary here; `transformers serve` speaks only the OpenAI formats. Streaming and tools are
not supported (the harness sends neither): such requests get a 400 in the API's own shape.

Every response names the model that really answered (`served_as`), never the one asked for,
so transcripts and reports say what spoke.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

__all__ = ["build_app", "messages_to_chat", "chat_to_message"]

_STOP_REASON = {"stop": "end_turn", "length": "max_tokens"}


def _text(content: Any) -> str:
    """A Messages API content (a string or a list of blocks) as plain text; only text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(b, dict) and b.get("type") == "text" for b in content):
        return "".join(b.get("text", "") for b in content)
    raise ValueError("only text content is supported (no images, tools or documents)")


def messages_to_chat(body: dict[str, Any], model: str) -> dict[str, Any]:
    """An Anthropic Messages request body as an OpenAI chat completions body for `model`."""
    if body.get("stream"):
        raise ValueError("streaming is not supported by this gateway")
    if body.get("tools"):
        raise ValueError("tools are not supported by this gateway")
    messages = []
    if body.get("system"):
        messages.append({"role": "system", "content": _text(body["system"])})
    for message in body.get("messages", []):
        if message.get("role") not in ("user", "assistant"):
            raise ValueError(f"unknown message role {message.get('role')!r}")
        messages.append({"role": message["role"], "content": _text(message.get("content", ""))})
    if "max_tokens" not in body:
        raise ValueError("max_tokens is required")
    chat: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": body["max_tokens"]}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p"), ("stop_sequences", "stop")):
        if body.get(ours) is not None:
            chat[theirs] = body[ours]
    return chat


def chat_to_message(completion: dict[str, Any], served_as: str) -> dict[str, Any]:
    """An OpenAI chat completion as an Anthropic `Message` (validated by the SDK's type)."""
    from anthropic.types import Message

    choice = completion["choices"][0]
    usage = completion.get("usage") or {}
    message = Message(
        id=f"msg_{completion.get('id') or uuid.uuid4().hex}", type="message", role="assistant",
        model=served_as, content=[{"type": "text", "text": choice["message"].get("content") or ""}],
        stop_reason=_STOP_REASON.get(choice.get("finish_reason") or "stop", "end_turn"), stop_sequence=None,
        usage={"input_tokens": usage.get("prompt_tokens", 0), "output_tokens": usage.get("completion_tokens", 0)})
    return message.model_dump(mode="json", exclude_none=True)


def build_app(backend: str, model: str, served_as: str) -> FastAPI:
    """The FastAPI app: `backend` is the OpenAI base URL (…/v1), `model` the name it serves."""
    # vLLM's convention for a server without keys: "EMPTY" (`transformers serve` checks none).
    client = httpx.AsyncClient(base_url=backend, timeout=httpx.Timeout(1800.0, connect=10.0),
                               headers={"Authorization": "Bearer EMPTY"})

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await client.aclose()

    app = FastAPI(title="subterra rehearsal gateway", lifespan=lifespan)

    def anthropic_error(status: int, kind: str, message: str) -> JSONResponse:
        return JSONResponse({"type": "error", "error": {"type": kind, "message": message}}, status_code=status)

    @app.exception_handler(httpx.TransportError)
    async def backend_unreachable(_request: Request, e: httpx.TransportError) -> JSONResponse:
        # A dead model server (OOM-killed, say) is a 502 that names it, not a traceback's 500;
        # this body reads as an error in both the Anthropic and the OpenAI formats.
        return anthropic_error(502, "api_error", f"the model server at {backend} did not answer: "
                                                 f"{type(e).__name__}: {e}")

    async def backend_chat(chat: dict[str, Any]) -> httpx.Response:
        return await client.post("/chat/completions", json=chat)

    @app.post("/v1/messages")
    async def messages(request: Request) -> JSONResponse:
        try:
            chat = messages_to_chat(await request.json(), model)
        except (ValueError, TypeError, AttributeError) as e:
            return anthropic_error(400, "invalid_request_error", str(e))
        answer = await backend_chat(chat)
        if answer.status_code != 200:
            kind = "invalid_request_error" if answer.status_code < 500 else "api_error"
            return anthropic_error(answer.status_code, kind, answer.text[:2000])
        return JSONResponse(chat_to_message(answer.json(), served_as))

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        body = await request.json()
        if body.get("stream"):
            return JSONResponse({"error": {"message": "streaming is not supported by this gateway",
                                           "type": "invalid_request_error"}}, status_code=400)
        answer = await backend_chat({**body, "model": model})
        data = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {
            "error": {"message": answer.text[:2000], "type": "api_error"}}
        if answer.status_code == 200:
            data["model"] = served_as
        return JSONResponse(data, status_code=answer.status_code)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": served_as, "object": "model", "owned_by": "local"}]}

    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m harness.llm.gateway", description=__doc__.split("\n")[0])
    parser.add_argument("--backend", required=True, help="the OpenAI-compatible backend's base URL (…/v1)")
    parser.add_argument("--model", required=True, help="the model name the backend serves")
    parser.add_argument("--served-as", default=None, help="the model name responses carry (default: --model)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    app = build_app(args.backend, args.model, args.served_as or args.model)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
