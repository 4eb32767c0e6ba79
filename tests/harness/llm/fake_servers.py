"""Fake Anthropic and OpenAI HTTP servers on 127.0.0.1 for tests and benchmarks.

They speak enough of the real APIs for the official SDKs to work against them:
``POST /v1/messages`` (Anthropic) and ``POST /v1/chat/completions`` (OpenAI), with realistic
bodies, usage fields, error bodies and Retry-After headers. Faults can be injected per
request, a sliding-window rate limit answers 429 past its budget, and every request is
logged.

    with FakeLLMServer("anthropic", faults=random_faults(0.3, seed=1)) as server:
        model = get_model("anthropic:claude-sonnet-4-5", api_key=server.api_key,
                          base_url=server.base_url)
        ...
        server.requests          # what arrived, and how it was answered
        server.served_usage()    # token usage of the 200 responses actually sent

A `reply` function may return text, or `{"text": ..., "tool_calls": [{"name": ..., "arguments":
{...}}]}` to answer with tool use in the API's own shape (Anthropic `tool_use` blocks and
`stop_reason: tool_use`; OpenAI `message.tool_calls` with JSON-text arguments and
`finish_reason: tool_calls`). `structured_reply` answers a request's structured-output schema
(Anthropic `output_config.format`, OpenAI `response_format`) with a valid JSON document.

Fault kinds: ``rate_limit`` (429 + Retry-After), ``server_error`` (500), ``overloaded`` (529
for Anthropic, 503 for OpenAI), ``timeout`` (sleeps past the client's timeout, then hangs
up), ``truncated`` (200 with half a JSON body), ``unauthorized`` (401), ``bad_request``
(400).
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Api = Literal["anthropic", "openai"]
Fault = Literal[
    "rate_limit",
    "server_error",
    "overloaded",
    "timeout",
    "truncated",
    "unauthorized",
    "bad_request",
]
FaultPlan = Callable[[int], Fault | None]

TRANSIENT_FAULTS: tuple[Fault, ...] = (
    "rate_limit",
    "server_error",
    "overloaded",
    "timeout",
    "truncated",
)

_PATHS = {"anthropic": "/v1/messages", "openai": "/v1/chat/completions"}
_ERROR_TYPES = {
    "anthropic": {
        400: "invalid_request_error",
        401: "authentication_error",
        404: "not_found_error",
        429: "rate_limit_error",
        500: "api_error",
        529: "overloaded_error",
    },
    "openai": {
        400: "invalid_request_error",
        401: "invalid_request_error",
        404: "invalid_request_error",
        429: "requests",
        500: "server_error",
        503: "server_error",
    },
}


def random_faults(
    rate: float, *, seed: int = 0, kinds: Sequence[Fault] = TRANSIENT_FAULTS
) -> FaultPlan:
    """Each request independently faulty with probability `rate`, kind drawn from `kinds`.

    Deterministic: the decision for request number n depends only on (seed, n).
    """

    def plan(index: int) -> Fault | None:
        draw = random.Random(seed * 1_000_003 + index)
        return draw.choice(list(kinds)) if draw.random() < rate else None

    return plan


def scripted_faults(*faults: Fault | None) -> FaultPlan:
    """The first requests get these faults in order (None = answer normally); then no faults."""
    return lambda index: faults[index] if index < len(faults) else None


def echo_reply(body: dict[str, Any]) -> str:
    """Default reply: a deterministic function of the request's last message."""
    messages = body.get("messages") or [{}]
    return f"You said: {messages[-1].get('content', '')}"


def requested_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The structured-output schema a request carries, in either API's field."""
    anthropic_format = (body.get("output_config") or {}).get("format")
    if anthropic_format:
        return anthropic_format["schema"]
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return response_format["json_schema"]["schema"]
    return None


def _example(schema: dict[str, Any]) -> Any:
    """The first value `schema` allows (enough of JSON Schema for the harness's schemas)."""
    if "enum" in schema:
        return schema["enum"][-1]
    kind = schema.get("type")
    if kind == "object":
        return {key: _example(value) for key, value in schema.get("properties", {}).items()}
    return {"integer": 3, "number": 3.0, "boolean": True, "array": [], "null": None}.get(kind, "fine")


def structured_reply(body: dict[str, Any]) -> str:
    """A schema-valid JSON reply when the request asks for one (the last enum value of each
    enum, so a choice picks the last option); otherwise `echo_reply`."""
    schema = requested_schema(body)
    return json.dumps(_example(schema)) if schema is not None else echo_reply(body)


@dataclass
class ReceivedRequest:
    index: int
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float
    status: int | None = None  # what we answered (None: hung up, for "timeout")
    fault: Fault | None = None
    usage: dict[str, int] | None = None  # only for complete 200 responses


@dataclass
class _Window:
    """Sliding-window limit: at most `limit` accepted requests in any `window_s` seconds."""

    limit: int
    window_s: float
    accepted: deque[float] = field(default_factory=deque)

    def admit(self, now: float) -> float | None:
        """None if admitted, else seconds until a slot frees up."""
        while self.accepted and now - self.accepted[0] >= self.window_s:
            self.accepted.popleft()
        if len(self.accepted) >= self.limit:
            return self.accepted[0] + self.window_s - now
        self.accepted.append(now)
        return None


class FakeLLMServer:
    """A threaded HTTP server speaking the Anthropic or OpenAI chat API. Use as a context manager."""

    def __init__(
        self,
        api: Api,
        *,
        api_key: str = "test-key-not-secret",
        latency_s: float = 0.0,
        faults: FaultPlan | None = None,
        rate_limit: tuple[int, float] | None = None,
        retry_after_s: float = 0.05,
        timeout_sleep_s: float = 1.0,
        reply: Callable[[dict[str, Any]], str | dict[str, Any]] = echo_reply,
    ) -> None:
        if api not in _PATHS:
            raise ValueError(f"api must be 'anthropic' or 'openai', got {api!r}")
        self.api = api
        self.api_key = api_key
        self.latency_s = latency_s
        self.faults = faults or (lambda index: None)
        self.window = _Window(*rate_limit) if rate_limit else None
        self.retry_after_s = retry_after_s
        self.timeout_sleep_s = timeout_sleep_s
        self.reply = reply
        self._lock = threading.Lock()
        self._log: list[ReceivedRequest] = []
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._http.daemon_threads = True
        self._http.block_on_close = False  # don't wait for handlers sleeping in a "timeout"
        # A short poll interval: shutdown() waits up to one interval.
        self._thread = threading.Thread(
            target=self._http.serve_forever, args=(0.02,), daemon=True, name="fake-llm"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._http is None:
            raise RuntimeError("server not started")
        return self._http.server_address[1]

    @property
    def base_url(self) -> str:
        """What to pass as the SDK's base_url (the OpenAI SDK expects the /v1 in it)."""
        root = f"http://127.0.0.1:{self.port}"
        return root + "/v1" if self.api == "openai" else root

    # -- inspection ---------------------------------------------------------------------

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._log)

    def served_usage(self) -> tuple[int, int, int]:
        """(input_tokens, output_tokens, responses) summed over complete 200 responses."""
        served = [r.usage for r in self.requests if r.usage is not None]
        return (
            sum(u["input_tokens"] for u in served),
            sum(u["output_tokens"] for u in served),
            len(served),
        )

    def reset(self) -> None:
        with self._lock:
            self._log.clear()

    # -- answering ----------------------------------------------------------------------

    def _record(self, path: str, headers: dict[str, str], body: Any) -> ReceivedRequest:
        with self._lock:
            entry = ReceivedRequest(len(self._log), path, headers, body, time.monotonic())
            self._log.append(entry)
            return entry

    def _authorised(self, headers: dict[str, str]) -> bool:
        bearer = headers.get("authorization") == f"Bearer {self.api_key}"
        if self.api == "anthropic":  # the API takes x-api-key; SDK 2.x sends a Bearer header
            return bearer or headers.get("x-api-key") == self.api_key
        return bearer

    def _success_body(
        self, body: dict[str, Any], index: int
    ) -> tuple[dict[str, Any], dict[str, int]]:
        answer = self.reply(body)
        text = answer if isinstance(answer, str) else answer.get("text", "")
        calls = [] if isinstance(answer, str) else answer.get("tool_calls", [])
        prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        prompt += " " + str(body.get("system", ""))
        input_tokens = len(prompt.split()) + 3 * len(body.get("messages", []))
        output_tokens = max(1, len(text.split()) + 5 * len(calls))
        model = body.get("model", "unknown")
        if self.api == "anthropic":
            usage = {"input_tokens": input_tokens, "output_tokens": output_tokens}
            blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text or not calls else []
            blocks += [{"type": "tool_use", "id": f"toolu_fake{index:04d}{n}", "name": c["name"],
                        "input": c["arguments"]} for n, c in enumerate(calls)]
            return {
                "id": f"msg_fake{index:06d}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": blocks,
                "stop_reason": "tool_use" if calls else "end_turn",
                "stop_sequence": None,
                "usage": {
                    **usage,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "service_tier": "standard",
                },
            }, usage
        return {
            "id": f"chatcmpl-fake{index:06d}",
            "object": "chat.completion",
            "created": 1_700_000_000 + index,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant", "content": text or None, "refusal": None,
                        **({"tool_calls": [
                            {"id": f"call_fake{index:04d}{n}", "type": "function",
                             "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
                            for n, c in enumerate(calls)]} if calls else {}),
                    },
                    "logprobs": None,
                    "finish_reason": "tool_calls" if calls else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": input_tokens,
                "completion_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
            "system_fingerprint": "fp_fake",
        }, {"input_tokens": input_tokens, "output_tokens": output_tokens}

    def _error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = _ERROR_TYPES[self.api].get(status, "api_error")
        if self.api == "anthropic":
            return {
                "type": "error",
                "error": {"type": kind, "message": message},
                "request_id": "req_fake",
            }
        code = "rate_limit_exceeded" if status == 429 else None
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect
    fake: FakeLLMServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError:
            body = None
        fake = self.fake
        entry = fake._record(self.path, headers, body)
        if self.path != _PATHS[fake.api]:
            self._send_json(entry, 404, fake._error_body(404, f"no route {self.path}"))
            return
        if not fake._authorised(headers):
            self._send_json(entry, 401, fake._error_body(401, "invalid API key"))
            return
        if not isinstance(body, dict) or not body.get("messages"):
            self._send_json(entry, 400, fake._error_body(400, "messages: field required"))
            return
        if fake.window is not None:
            with fake._lock:
                wait = fake.window.admit(time.monotonic())
            if wait is not None:
                self._send_rate_limited(entry, wait)
                return
        if fake.latency_s:
            time.sleep(fake.latency_s)
        fault = fake.faults(entry.index)
        entry.fault = fault
        if fault is None:
            payload, usage = fake._success_body(body, entry.index)
            entry.usage = usage  # set before writing: the client may read it before we return
            if not self._send_json(entry, 200, payload):
                entry.usage = None
        elif fault == "rate_limit":
            self._send_rate_limited(entry, fake.retry_after_s)
        elif fault in ("server_error", "overloaded", "unauthorized", "bad_request"):
            status = {
                "server_error": 500,
                "overloaded": 529 if fake.api == "anthropic" else 503,
                "unauthorized": 401,
                "bad_request": 400,
            }[fault]
            self._send_json(entry, status, fake._error_body(status, f"injected {fault}"))
        elif fault == "timeout":
            time.sleep(fake.timeout_sleep_s)
            self.close_connection = True  # hang up without an answer
        elif fault == "truncated":
            payload, _ = fake._success_body(body, entry.index)
            text = json.dumps(payload).encode()
            self._send_bytes(entry, 200, text[: len(text) // 2])
        else:
            raise ValueError(f"unknown fault {fault!r}")

    def _send_rate_limited(self, entry: ReceivedRequest, wait_s: float) -> None:
        headers = {
            "retry-after": str(max(1, math.ceil(wait_s))),
            "retry-after-ms": str(max(1, round(wait_s * 1000))),
        }
        self._send_json(entry, 429, self.fake._error_body(429, "rate limit exceeded"), headers)

    def _send_json(
        self,
        entry: ReceivedRequest,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> bool:
        return self._send_bytes(entry, status, json.dumps(payload).encode(), headers)

    def _send_bytes(
        self,
        entry: ReceivedRequest,
        status: int,
        data: bytes,
        headers: dict[str, str] | None = None,
    ) -> bool:
        """Send a response; False if the client had already hung up."""
        entry.status = status
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("request-id", f"req_fake{entry.index:06d}")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up; nothing to do
            self.close_connection = True
            return False
        return True
