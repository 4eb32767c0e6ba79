"""A local gateway that answers the Anthropic Messages and OpenAI Chat Completions APIs with
one local model: what the rehearsal points the official SDKs at.

    python -m harness.servers.gateway --local smollm2-135m --port 8765          # the model in this process
    python -m harness.servers.gateway --backend http://127.0.0.1:8001/v1 --model /path/served --port 8765
    ANTHROPIC_BASE_URL=http://127.0.0.1:8765  OPENAI_BASE_URL=http://127.0.0.1:8765/v1

Two backends. `--backend`: an OpenAI-compatible server (`transformers serve`, vLLM; see
`harness.servers.model_server`), to which `POST /v1/chat/completions` is passed through unchanged but
for `model`, which a pinned backend insists on. `--local`: the batched local provider
(`harness.llm.local`) in this process, requests that arrive together decoded in one batch.
The rehearsal uses `--local`: on a 2-core CPU, `transformers serve` with continuous batching
completed 4 concurrent 300-token generator calls in about 3 minutes (~7 tokens/s in all),
which put the rehearsal at hours; the batched provider decodes a batch of 4 at ~41 tokens/s
(fp32) or ~62 (bf16, the default on a CPU with bf16 instructions).
`POST /v1/messages` is translated either way: system and messages (string or text blocks)
become chat messages, `stop_sequences` `stop`, and the completion an Anthropic `Message`
(built with the SDK's own type) with the usage the backend counted.

Tool use and structured output travel in both formats: Anthropic `tools` / `tool_choice`,
`tool_use` and `tool_result` blocks and `output_config.format` become OpenAI `tools` /
`tool_choice`, assistant `tool_calls` and `tool` messages and `response_format`, and a
reply's tool calls come back as `tool_use` blocks (`stop_reason: tool_use`). With `--local`
the request reaches the local provider as `ChatRequest.tools` / `output`: the schema is
enforced by constrained decoding and the tools are rendered and read back as text
(`harness.llm.tool_text`).

Why a thin adapter: no server that speaks the Messages API installs here without changing
the project's pins. LiteLLM's proxy (`litellm[proxy]`) would downgrade huggingface_hub
(2.4 → 1.33, below what transformers 5.24 needs) and rich, and pull ~70 packages (boto3,
azure, polars, psycopg...); llama.cpp's server has /v1/messages but ships no wheel or
binary here; `transformers serve` speaks only the OpenAI formats (and ignores
`response_format`). Streaming is not supported through `--backend` nor on `/v1/messages`
(the harness never streams): such requests get a 400 in the API's own shape. With `--local`,
a chat completion asked with `stream: true` comes back as OpenAI's server-sent chunks, the
whole reply in one content chunk once the batch has decoded it (then the finish chunk, the
usage chunk when `stream_options.include_usage` asks for it, and `[DONE]`). Sampling options
the local provider cannot honour (`n` > 1, `logprobs`, `top_p` < 1 when sampling) are refused
with a 400 rather than ignored.

Every response names the model that really answered (`served_as`), never the one asked for,
so transcripts and reports say what spoke. `--only-served-name` (what `subterra serve` uses)
refuses requests naming another model, with the 404 `model_not_found` of OpenAI and vLLM;
without it (the rehearsal, whose SDKs ask for vendors' model names) any name is answered.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from harness.llm.base import ChatModel, ChatRequest, Message, OutputSchema, ToolCall, ToolSpec
from harness.llm.errors import LLMError

__all__ = ["ModelBackend", "ServerBackend", "build_app", "chat_request", "chat_to_message", "messages_to_chat"]

_STOP_REASON = {"stop": "end_turn", "length": "max_tokens"}


def _text(content: Any) -> str:
    """A Messages API content (a string or a list of blocks) as plain text; only text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(b, dict) and b.get("type") == "text" for b in content):
        return "".join(b.get("text", "") for b in content)
    raise ValueError("only text content and tool use are supported (no images or documents)")


def _refuse_unsupported(body: dict[str, Any]) -> None:
    """Streaming is the one request feature the backend paths do not implement (a local
    model's chat completions stream from `build_app`, which takes `stream` off first)."""
    if body.get("stream"):
        raise ValueError("streaming is not supported by this gateway")


def _refuse_unhonoured_sampling(body: dict[str, Any]) -> None:
    """OpenAI sampling options the local provider cannot honour: refused, not ignored."""
    if (body.get("n") or 1) != 1:
        raise ValueError("n > 1 is not supported: ask once per reply")
    if body.get("logprobs") or body.get("top_logprobs"):
        raise ValueError("logprobs are not supported by this server")
    top_p = body.get("top_p")
    if top_p is not None and top_p < 1 and (body.get("temperature") or 0) > 0:
        raise ValueError("top_p < 1 is not supported: the model samples from the whole distribution "
                         "(or decodes greedily at temperature 0)")


def _anthropic_turn(role: str, content: Any) -> list[dict[str, Any]]:
    """One Messages API turn as chat messages: `tool_result` blocks become `tool` messages
    (before the turn's text), `tool_use` blocks the assistant message's `tool_calls`."""
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list) or not all(isinstance(b, dict) for b in content):
        raise ValueError("message content must be a string or a list of blocks")
    texts, calls, results = [], [], []
    for block in content:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "tool_use" and role == "assistant":
            calls.append({"id": block["id"], "type": "function", "function": {
                "name": block["name"], "arguments": json.dumps(block.get("input") or {})}})
        elif kind == "tool_result" and role == "user":
            results.append({"role": "tool", "tool_call_id": block["tool_use_id"],
                            "content": _text(block.get("content") or "")})
        else:
            raise ValueError("only text content and tool use are supported (no images or documents)")
    if role == "assistant":
        return [{"role": "assistant", "content": "".join(texts) or None, **({"tool_calls": calls} if calls else {})}]
    return results + ([{"role": "user", "content": "".join(texts)}] if texts or not results else [])


def _anthropic_tool_choice(choice: dict[str, Any]) -> str | dict[str, Any]:
    kind = choice.get("type")
    if kind == "tool":
        return {"type": "function", "function": {"name": choice["name"]}}
    mapped = {"auto": "auto", "any": "required", "none": "none"}.get(kind)
    if mapped is None:
        raise ValueError(f"unknown tool_choice type {kind!r}")
    return mapped


def messages_to_chat(body: dict[str, Any], model: str) -> dict[str, Any]:
    """An Anthropic Messages request body as an OpenAI chat completions body for `model`."""
    _refuse_unsupported(body)
    messages = []
    if body.get("system"):
        messages.append({"role": "system", "content": _text(body["system"])})
    for message in body.get("messages", []):
        if message.get("role") not in ("user", "assistant"):
            raise ValueError(f"unknown message role {message.get('role')!r}")
        messages += _anthropic_turn(message["role"], message.get("content", ""))
    if "max_tokens" not in body:
        raise ValueError("max_tokens is required")
    chat: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": body["max_tokens"]}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p"), ("stop_sequences", "stop")):
        if body.get(ours) is not None:
            chat[theirs] = body[ours]
    if body.get("tools"):
        chat["tools"] = [{"type": "function", "function": {
            "name": t["name"], "description": t.get("description", ""),
            "parameters": t.get("input_schema") or {"type": "object"}}} for t in body["tools"]]
        if body.get("tool_choice"):
            chat["tool_choice"] = _anthropic_tool_choice(body["tool_choice"])
    output_format = (body.get("output_config") or {}).get("format")
    if output_format:
        if output_format.get("type") != "json_schema":
            raise ValueError(f"unknown output format type {output_format.get('type')!r}")
        chat["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "output", "strict": True, "schema": output_format["schema"]}}
    return chat


def chat_to_message(completion: dict[str, Any], served_as: str) -> dict[str, Any]:
    """An OpenAI chat completion as an Anthropic `Message` (validated by the SDK's type)."""
    from anthropic.types import Message

    choice = completion["choices"][0]
    usage = completion.get("usage") or {}
    text = choice["message"].get("content") or ""
    calls = choice["message"].get("tool_calls") or []
    content = [{"type": "text", "text": text}] if text or not calls else []
    content += [{"type": "tool_use", "id": c["id"], "name": c["function"]["name"],
                 "input": json.loads(c["function"].get("arguments") or "{}")} for c in calls]
    stop_reason = "tool_use" if calls else _STOP_REASON.get(choice.get("finish_reason") or "stop", "end_turn")
    message = Message(
        id=f"msg_{completion.get('id') or uuid.uuid4().hex}", type="message", role="assistant",
        model=served_as, content=content, stop_reason=stop_reason, stop_sequence=None,
        usage={"input_tokens": usage.get("prompt_tokens", 0), "output_tokens": usage.get("completion_tokens", 0)})
    return message.model_dump(mode="json", exclude_none=True)


def _chat_message(message: dict[str, Any]) -> Message:
    role = message.get("role")
    if role == "developer":
        role = "system"
    if role == "tool":
        return Message(role="tool", content=_text(message.get("content") or ""),
                       tool_call_id=message.get("tool_call_id"))
    if role not in ("system", "user", "assistant"):
        raise ValueError(f"unknown message role {role!r}")
    calls = tuple(ToolCall(id=c["id"], name=c["function"]["name"],
                           arguments=json.loads(c["function"].get("arguments") or "{}"))
                  for c in message.get("tool_calls") or [])
    return Message(role=role, content=_text(message.get("content") or ""), tool_calls=calls)


def _output(response_format: dict[str, Any] | None) -> OutputSchema | None:
    """`response_format` as the request's output: a JSON Schema, or any JSON object."""
    kind = (response_format or {}).get("type", "text")
    if kind == "text":
        return None
    if kind == "json_object":
        return OutputSchema(name="json_object", json_schema={"type": "object"})
    if kind != "json_schema":
        raise ValueError(f"unknown response_format type {kind!r}")
    spec = response_format["json_schema"]   # type: ignore[index]
    return OutputSchema(name=spec.get("name") or "output", json_schema=spec.get("schema") or {"type": "object"})


def chat_request(body: dict[str, Any]) -> ChatRequest:
    """An OpenAI chat completions body as the harness's request (for a model in this process)."""
    _refuse_unsupported(body)
    _refuse_unhonoured_sampling(body)
    messages = [_chat_message(m) for m in body.get("messages") or []]
    if not messages:
        raise ValueError("messages must not be empty")
    stop = body.get("stop") or ()
    fields: dict[str, Any] = {"stop": (stop,) if isinstance(stop, str) else tuple(stop)}
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit is not None:
        fields["max_tokens"] = int(limit)
    for name in ("temperature", "seed"):
        if body.get(name) is not None:
            fields[name] = body[name]
    tools = body.get("tools") or []
    if any(t.get("type") != "function" for t in tools):
        raise ValueError("only function tools are supported")
    fields["tools"] = tuple(ToolSpec(name=t["function"]["name"], description=t["function"].get("description") or "",
                                     parameters=t["function"].get("parameters") or {"type": "object", "properties": {}})
                            for t in tools)
    choice = body.get("tool_choice") or "auto"
    fields["tool_choice"] = choice if isinstance(choice, str) else choice["function"]["name"]
    fields["output"] = _output(body.get("response_format"))
    return ChatRequest(messages=tuple(messages), **fields)


class Backend(Protocol):
    """Answers an OpenAI chat completions body: (HTTP status, response body)."""

    async def chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]: ...

    async def aclose(self) -> None: ...


class ServerBackend:
    """An OpenAI-compatible server (`transformers serve`, vLLM) that serves `model`."""

    def __init__(self, base_url: str, model: str) -> None:
        self.base_url, self.model = base_url, model
        # vLLM's convention for a server without keys: "EMPTY" (`transformers serve` checks none).
        self._client = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(1800.0, connect=10.0),
                                         headers={"Authorization": "Bearer EMPTY"})

    async def chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        answer = await self._client.post("/chat/completions", json={**body, "model": self.model})
        if answer.headers.get("content-type", "").startswith("application/json"):
            return answer.status_code, answer.json()
        return answer.status_code, {"error": {"message": answer.text[:2000], "type": "api_error"}}

    async def aclose(self) -> None:
        await self._client.aclose()


class ModelBackend:
    """A model in this process (the batched local provider): concurrent requests share a batch."""

    streams = True   # build_app streams its chat completions (the whole reply in one chunk)

    def __init__(self, model: ChatModel) -> None:
        self.model = model

    async def chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        from openai.types.chat import ChatCompletion

        try:
            request = chat_request(body)
        except (ValueError, TypeError, AttributeError) as e:
            return 400, {"error": {"message": str(e), "type": "invalid_request_error"}}
        try:
            result = await self.model.generate(request)
        except LLMError as e:
            return 500, {"error": {"message": str(e), "type": "api_error"}}
        finish = "length" if result.usage.output_tokens >= request.max_tokens else "stop"
        message: dict[str, Any] = {"role": "assistant", "content": result.text}
        if result.tool_calls:
            finish = "tool_calls"
            message["content"] = result.text or None
            message["tool_calls"] = [{"id": c.id, "type": "function", "function": {
                "name": c.name, "arguments": json.dumps(c.arguments)}} for c in result.tool_calls]
        completion = ChatCompletion(
            id=f"chatcmpl-{uuid.uuid4().hex}", object="chat.completion", created=int(time.time()),
            model=self.model.name, choices=[{"index": 0, "finish_reason": finish, "message": message}],
            usage={"prompt_tokens": result.usage.input_tokens, "completion_tokens": result.usage.output_tokens,
                   "total_tokens": result.usage.input_tokens + result.usage.output_tokens})
        return 200, completion.model_dump(mode="json", exclude_none=True)

    async def aclose(self) -> None:
        await self.model.aclose()


def _sse(completion: dict[str, Any], include_usage: bool) -> Iterator[str]:
    """A finished chat completion as OpenAI's stream of `chat.completion.chunk` events."""
    from openai.types.chat import ChatCompletionChunk

    choice, message = completion["choices"][0], completion["choices"][0]["message"]
    delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
    if message.get("tool_calls"):
        delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
    base = {"id": completion["id"], "object": "chat.completion.chunk", "created": completion["created"],
            "model": completion["model"]}
    chunks = [{**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
              {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]}]
    if include_usage:
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    for chunk in chunks:
        yield f"data: {ChatCompletionChunk.model_validate(chunk).model_dump_json(exclude_none=True)}\n\n"
    yield "data: [DONE]\n\n"


def build_app(backend: Backend, served_as: str, *, only_served_name: bool = False) -> FastAPI:
    """The FastAPI app in front of `backend`; responses name `served_as` as the model.
    `only_served_name`: refuse requests that name another model (404), as vLLM does."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await backend.aclose()

    app = FastAPI(title="subterra rehearsal gateway", lifespan=lifespan)

    def anthropic_error(status: int, kind: str, message: str) -> JSONResponse:
        return JSONResponse({"type": "error", "error": {"type": kind, "message": message}}, status_code=status)

    @app.exception_handler(httpx.TransportError)
    async def backend_unreachable(_request: Request, e: httpx.TransportError) -> JSONResponse:
        # A dead model server (OOM-killed, say) is a 502 that names it, not a traceback's 500;
        # this body reads as an error in both the Anthropic and the OpenAI formats.
        where = getattr(backend, "base_url", "the backend")
        return anthropic_error(502, "api_error", f"the model server at {where} did not answer: "
                                                 f"{type(e).__name__}: {e}")

    def other_model(body: dict[str, Any]) -> str | None:
        """The model a request names when this server must refuse it (None: it may answer)."""
        asked = body.get("model") if isinstance(body, dict) else None
        return asked if only_served_name and asked is not None and asked != served_as else None

    def not_served(asked: str) -> str:
        return f"The model `{asked}` does not exist: this server serves `{served_as}`."

    @app.post("/v1/messages")
    async def messages(request: Request) -> JSONResponse:
        body = await request.json()
        if (asked := other_model(body)) is not None:
            return anthropic_error(404, "not_found_error", not_served(asked))
        try:
            chat = messages_to_chat(body, served_as)
        except (ValueError, TypeError, AttributeError) as e:
            return anthropic_error(400, "invalid_request_error", str(e))
        status, answer = await backend.chat(chat)
        if status != 200:
            kind = "invalid_request_error" if status < 500 else "api_error"
            message = (answer.get("error") or {}).get("message") if isinstance(answer.get("error"), dict) else None
            return anthropic_error(status, kind, (message or str(answer))[:2000])
        return JSONResponse(chat_to_message(answer, served_as))

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        body = await request.json()
        if (asked := other_model(body)) is not None:
            return JSONResponse({"error": {"message": not_served(asked), "type": "invalid_request_error",
                                           "param": "model", "code": "model_not_found"}}, status_code=404)
        stream = bool(body.get("stream")) and getattr(backend, "streams", False)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if stream:
            body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
        try:
            _refuse_unsupported(body)  # before a server backend would answer in SSE
        except ValueError as e:
            return JSONResponse({"error": {"message": str(e), "type": "invalid_request_error"}}, status_code=400)
        status, answer = await backend.chat(body)
        if status == 200:
            answer["model"] = served_as
            if stream:
                return StreamingResponse(_sse(answer, include_usage), media_type="text/event-stream")
        return JSONResponse(answer, status_code=status)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": served_as, "object": "model", "owned_by": "local"}]}

    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m harness.servers.gateway", description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--local", metavar="SOURCE", help="answer with this local model in this process "
                                                         "(alias, GGUF or checkpoint dir)")
    where.add_argument("--backend", metavar="URL", help="an OpenAI-compatible server's base URL (…/v1)")
    parser.add_argument("--model", help="with --backend: the model name the server serves")
    parser.add_argument("--threads", type=int, default=None, help="with --local: torch threads for decoding")
    parser.add_argument("--dtype", choices=["auto", "float32", "bfloat16"], default="auto",
                        help="with --local: the weights' precision; auto = the local provider's default, as the "
                             "gate decodes in process (bfloat16 where the CPU multiplies it natively, else float32)")
    parser.add_argument("--served-as", default=None,
                        help="the model name responses carry (default: local:SOURCE, or --model)")
    parser.add_argument("--only-served-name", action="store_true",
                        help="refuse (404) requests naming a model other than --served-as, as vLLM does")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    backend: Backend
    if args.local:
        import torch

        from harness.llm.registry import get_model

        options: dict[str, Any] = {"threads": args.threads}
        if args.dtype != "auto":
            options["dtype"] = getattr(torch, args.dtype)
        backend = ModelBackend(get_model(f"local:{args.local}", **options))
        served_as = args.served_as or f"local:{args.local}"
    else:
        if not args.model:
            parser.error("--backend needs --model (the name the server serves)")
        backend = ServerBackend(args.backend, args.model)
        served_as = args.served_as or args.model
    uvicorn.run(build_app(backend, served_as, only_served_name=args.only_served_name),
                host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
