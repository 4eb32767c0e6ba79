"""Batched vs sequential decoding of 8 conversations with SmolLM2-135M-Instruct on the CPU.

The local provider decodes requests that arrive together in one left-padded `generate`
call. This sends the same 8 customer-service conversations one at a time, then all at once,
checks the greedy outputs agree, and prints the speed-up.

    .venv/bin/python benchmarks/local_batching.py                 # ~40 s incl. ~15 s loading
    .venv/bin/python benchmarks/local_batching.py --max-tokens 48 --threads 1
"""

from __future__ import annotations

import os

# Idle OpenMP threads spin by default; on a small shared CPU they fight other processes and
# decoding gets several times slower. Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import time  # noqa: E402

from harness.llm import ChatRequest, ChatResult, Message  # noqa: E402
from harness.llm.local import LocalModel  # noqa: E402

SYSTEM = "You are a helpful airline customer-service agent. Answer in one or two sentences."
OPENINGS = [
    "Hi, I need to change my flight to Boston from Friday to Sunday.",
    "My suitcase did not arrive in Denver. What should I do?",
    "Can I get a refund for a ticket I bought yesterday?",
    "I'd like to add a checked bag to my booking, reference QX7P2L.",
    "Is there Wi-Fi on the flight from Seattle to Tokyo?",
    "My flight was cancelled and I need to get home tonight.",
    "How early should I arrive at the airport for an international flight?",
    "Can I bring my cat in the cabin?",
]


def conversations(max_tokens: int) -> list[ChatRequest]:
    return [
        ChatRequest(
            messages=(
                Message(role="system", content=SYSTEM),
                Message(role="user", content="Hello."),
                Message(role="assistant", content="Hello! How can I help you today?"),
                Message(role="user", content=opening),
            ),
            max_tokens=max_tokens,
        )
        for opening in OPENINGS
    ]


async def run(
    model: LocalModel, requests: list[ChatRequest]
) -> tuple[list[ChatResult], float, list[ChatResult], float]:
    await model.generate(requests[0].model_copy(update={"max_tokens": 2}))  # warm-up
    started = time.perf_counter()
    one_by_one = [await model.generate(r) for r in requests]
    sequential_s = time.perf_counter() - started
    started = time.perf_counter()
    together = list(await asyncio.gather(*(model.generate(r) for r in requests)))
    batched_s = time.perf_counter() - started
    await model.aclose()
    return one_by_one, sequential_s, together, batched_s


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="torch threads for decoding")
    args = parser.parse_args()

    model = LocalModel("smollm2-135m", threads=args.threads)
    started = time.perf_counter()
    model.load()
    print(f"loaded SmolLM2-135M-Instruct (GGUF -> fp32) in {time.perf_counter() - started:.1f} s")

    requests = conversations(args.max_tokens)
    one_by_one, sequential_s, together, batched_s = asyncio.run(run(model, requests))
    tokens = sum(r.usage.output_tokens for r in together)
    same = sum(a.text == b.text for a, b in zip(one_by_one, together, strict=True))
    print(
        f"batch sizes per generate call: sequential {model.batch_sizes[1:9]}, batched {model.batch_sizes[9:]}"
    )
    print(f"sequential: {sequential_s:.2f} s ({tokens / sequential_s:.1f} output tokens/s)")
    print(f"batched:    {batched_s:.2f} s ({tokens / batched_s:.1f} output tokens/s)")
    print(
        f"speed-up (sequential / batched): {sequential_s / batched_s:.2f}x; "
        f"identical greedy outputs: {same}/{len(requests)}"
    )


if __name__ == "__main__":
    main()
