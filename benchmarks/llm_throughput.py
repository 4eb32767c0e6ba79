"""How close does the LLM layer get to a provider's rate limit, and how much faster than sequential?

A fake Anthropic server on 127.0.0.1 answers after `--latency` seconds and allows `--rpm`
requests per minute, counted over a sliding window of `--window` seconds (past it: 429 with
Retry-After). The full stack (`get_model`: limits, retries, ledger; cache off) sends
`--requests` calls at once with a client-side limit of the same rpm.

    .venv/bin/python benchmarks/llm_throughput.py                  # ~50 s
    .venv/bin/python benchmarks/llm_throughput.py --requests 1200 --window 60

Prints the achieved rate as a fraction of the limit (goal >= 0.95) and the speed-up over
calling one at a time (bounded by the limit: at 200 ms latency sequential calls make 300/min,
so the ceiling at 600 rpm is 2x).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(
    0, str(Path(__file__).resolve().parent.parent)
)  # for tests.harness.llm.fake_servers

from harness.llm import ChatRequest, Message, Model, RetryPolicy, get_model  # noqa: E402
from tests.harness.llm.fake_servers import FakeLLMServer  # noqa: E402

SPEC = "anthropic:claude-haiku-4-5"


def requests(n: int) -> list[ChatRequest]:
    return [
        ChatRequest(messages=(Message(role="user", content=f"question {i}"),), max_tokens=64)
        for i in range(n)
    ]


def build(server: FakeLLMServer, **limits: object) -> Model:
    return get_model(
        SPEC,
        api_key=server.api_key,
        base_url=server.base_url,
        cache="off",
        retry=RetryPolicy(max_attempts=20),
        **limits,
    )


async def sequential(server: FakeLLMServer, n: int) -> float:
    async with build(server) as model:
        started = time.perf_counter()
        for request in requests(n):
            await model.generate(request)
        return n / (time.perf_counter() - started)


async def concurrent(
    server: FakeLLMServer, n: int, rpm: float, concurrency: int
) -> tuple[float, int]:
    async with build(server, requests_per_minute=rpm, max_concurrency=concurrency) as model:
        started = time.perf_counter()
        results = await asyncio.gather(*(model.generate(r) for r in requests(n)))
        elapsed = time.perf_counter() - started
        assert model.usage.calls == len(results) == n
    return n / elapsed, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=450, help="calls in the rate-limited run")
    parser.add_argument(
        "--rpm", type=float, default=600, help="the server's limit, requests per minute"
    )
    parser.add_argument(
        "--window", type=float, default=10.0, help="seconds over which the server counts"
    )
    parser.add_argument(
        "--latency", type=float, default=0.2, help="server latency per call, seconds"
    )
    parser.add_argument(
        "--sequential", type=int, default=25, help="calls in the sequential baseline"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    with FakeLLMServer("anthropic", latency_s=args.latency) as free:
        sequential_rate = asyncio.run(sequential(free, args.sequential))

    per_window = round(args.rpm * args.window / 60)
    with FakeLLMServer(
        "anthropic", latency_s=args.latency, rate_limit=(per_window, args.window)
    ) as limited:
        rate, elapsed = asyncio.run(concurrent(limited, args.requests, args.rpm, args.concurrency))
        refused = sum(1 for r in limited.requests if r.status == 429)

    per_minute = rate * 60
    print(
        f"server: {args.latency * 1000:.0f} ms latency, limit {args.rpm:.0f} requests/min "
        f"({per_window} per {args.window:g} s sliding window)"
    )
    print(
        f"sequential: {sequential_rate:.2f} calls/s ({sequential_rate * 60:.0f}/min) over {args.sequential} calls"
    )
    print(
        f"rate-limited, concurrency {args.concurrency}: {args.requests} calls in {elapsed:.1f} s "
        f"= {per_minute:.0f}/min; 429 answers seen: {refused}"
    )
    print(f"achieved rate / limit: {per_minute / args.rpm:.3f} (goal >= 0.95)")
    print(
        f"speed-up over sequential: {rate / sequential_rate:.2f}x "
        f"(ceiling at this limit: {args.rpm / 60 / sequential_rate:.2f}x)"
    )


if __name__ == "__main__":
    main()
