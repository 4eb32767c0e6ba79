"""The local conditions' decoding, turn by turn: fp32 recomputing every prompt (before) vs bf16
weights and reusing each conversation's earlier turns (harness.llm.prefix_cache), one at a
time and together, in one run.

12 conversations (the gate's number) of the travel procedure, generated offline, are replayed
turn by turn: every turn, each conversation's history so far (its user turns as written, the
model's own earlier replies) goes to the local provider, all 12 at once, as the gate's
subterranean condition sends them. Each variant decodes the same turns with a fresh provider;
the table gives its seconds, its speed-up over the first row, the prompt tokens it reused and
how many of its replies are the same text as the first row's (bf16 changes some greedy
choices; reuse alone should change none in fp32). Last, two providers replay at once, as the
gate's conditions run side by side.

    .venv/bin/python benchmarks/conversation_decoding.py                  # SmolLM2-135M base, ~4 min on 2 cores
    .venv/bin/python benchmarks/conversation_decoding.py --model PATH     # a compiled model (store/model/<key>/best)
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")    # before torch is imported (see Makefile)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from compile.datagen import DatagenConfig, generate_dataset, load_split  # noqa: E402
from harness.conditions.orchestrated import AGENT_MAX_TOKENS  # noqa: E402
from harness.llm import ChatRequest, Message  # noqa: E402
from harness.llm.local import LocalModel  # noqa: E402
from harness.llm.offline import OfflineModel  # noqa: E402
from harness.procedure import load_procedure  # noqa: E402
from harness.scenarios import load_scenario_set  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = [("float32", False), ("bfloat16", False), ("float32", True), ("bfloat16", True)]


def user_turns(domain: str, n: int, turns: int) -> tuple[str, list[list[str]]]:
    procedure = load_procedure(ROOT / "procedures" / f"{domain}.yaml")
    scenarios = load_scenario_set(ROOT / "scenarios" / f"{domain}.yaml")
    with tempfile.TemporaryDirectory() as work:
        config = DatagenConfig(n=n + 2, seeds=[7], eval_fraction=0.1)
        asyncio.run(generate_dataset(OfflineModel(), procedure, scenarios, config, Path(work), show_progress=False))
        conversations = load_split(Path(work), "train")[:n]
    return procedure.system_prompt, [[t.text for t in c.turns if t.speaker == "user"][:turns] for c in conversations]


async def replay(model: LocalModel, system: str, users: list[list[str]]) -> tuple[list[str], float]:
    histories = [[Message(role="system", content=system)] for _ in users]
    replies: list[str] = []
    started = time.perf_counter()
    for turn in range(max(map(len, users))):
        live = [i for i, said in enumerate(users) if turn < len(said)]
        for i in live:
            histories[i].append(Message(role="user", content=users[i][turn]))
        results = await asyncio.gather(*(model.generate(ChatRequest(messages=tuple(histories[i]),
                                                                    max_tokens=AGENT_MAX_TOKENS)) for i in live))
        for i, result in zip(live, results, strict=True):
            histories[i].append(Message(role="assistant", content=result.text))
            replies.append(result.text)
    return replies, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m", help="local model source (default: SmolLM2-135M)")
    parser.add_argument("--procedure", default="travel")
    parser.add_argument("--conversations", type=int, default=12)
    parser.add_argument("--turns", type=int, default=5)
    args = parser.parse_args()

    system, users = user_turns(args.procedure, args.conversations, args.turns)
    rows = []
    for dtype, reuse in VARIANTS:
        model = LocalModel(args.model, dtype=getattr(torch, dtype), reuse_prefixes=reuse)
        model.load()
        replies, seconds = asyncio.run(replay(model, system, users))
        asyncio.run(model.aclose())
        prefixes = model._prefixes
        reused = f"{prefixes.reused_tokens / prefixes.prompt_tokens:.0%}" if prefixes is not None else "-"
        rows.append((dtype, reuse, seconds, reused, replies))
    # The gate runs a procedure's conditions side by side: two providers (as the compiled and
    # the orchestrated model are) replaying at once, against the last row's one-after-the-other.
    pair = [LocalModel(args.model) for _ in range(2)]
    for model in pair:
        model.load()

    async def side_by_side() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(replay(model, system, users) for model in pair))
        return time.perf_counter() - started

    together = asyncio.run(side_by_side())
    for model in pair:
        asyncio.run(model.aclose())
    base_seconds, base_replies = rows[0][2], rows[0][4]
    print(f"{len(users)} conversations x {args.turns} turns of {args.procedure}, model {args.model}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'weights':<9} {'reuse':<6} {'seconds':>8} {'speed-up':>9} {'reused':>7} {'same replies':>13}")
    for dtype, reuse, seconds, reused, replies in rows:
        same = sum(a == b for a, b in zip(replies, base_replies, strict=True))
        print(f"{dtype:<9} {'yes' if reuse else 'no':<6} {seconds:>8.1f} {base_seconds / seconds:>8.2f}x "
              f"{reused:>7} {same:>6}/{len(replies)}")
    alone = rows[-1][2]
    print(f"two providers ({rows[-1][0]}, reuse) side by side: {together:.1f} s for both, against {2 * alone:.1f} s "
          f"one after the other ({2 * alone / together:.2f}x)")


if __name__ == "__main__":
    main()
