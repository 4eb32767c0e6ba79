"""What constrained decoding costs the local model: the rehearsal's judge and router calls with
and without their output schema, on SmolLM2-135M-Instruct on the CPU, in the same run.

A batch of judge requests (the real rubric prompt over shipped-style conversations,
`JUDGE_MAX_TOKENS`) and a batch of routing requests (a choice among a hub's edges) are
decoded free and constrained, alternately, twice each. Printed per kind: wall seconds of
each batch, decoding steps (the batch's longest reply), seconds per step, and the ratios
constrained / free. Per step is the grammar's overhead (mask computation, one matcher per
row); per batch also counts that a constrained reply ends when its JSON closes, where a free
one runs on to its allowance.

    .venv/bin/python benchmarks/constrained_decoding.py                 # ~3 min on 2 cores
    .venv/bin/python benchmarks/constrained_decoding.py --batch 4 --threads 2 --dtype bfloat16
"""

from __future__ import annotations

import os

# Idle OpenMP threads spin by default; on a small shared CPU they fight other processes and
# decoding gets several times slower. Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from harness.judges.llm_judge import JUDGE_MAX_TOKENS  # noqa: E402
from harness.judges.rubric import RUBRIC_OUTPUT, parse_judge_output, render_judge_prompt  # noqa: E402
from harness.llm import ChatRequest, ChatResult, Message  # noqa: E402
from harness.llm.base import OutputSchema  # noqa: E402
from harness.llm.local import LocalModel  # noqa: E402
from harness.transcript import Turn  # noqa: E402

CONVERSATIONS = [
    [("agent", "Hello! Where would you like to travel?"), ("user", "Peru, for ten days in May."),
     ("agent", "Ten days in Peru in May. What is your budget?"), ("user", "About 3,000 dollars."),
     ("agent", "Here are three options within your budget."), ("user", "The second one, please.")],
    [("agent", "Welcome to Zoom support. What seems to be the problem?"), ("user", "Nobody can hear me."),
     ("agent", "Please check that your microphone is selected in the audio settings."),
     ("user", "That fixed it, thanks!")],
    [("agent", "Hi! How can I help with your booking?"), ("user", "I want to cancel."),
     ("agent", "I am sorry to hear that. May I ask why?"), ("user", "Too expensive. Bye.")],
    [("agent", "Hello, how can I help?"), ("user", "asdf"), ("agent", "Could you say more?"),
     ("user", "I need a human.")],
]
ROUTE = OutputSchema(name="route", choices=("present_options", "ask_budget_again", "escalate_to_human", "goodbye"))
ROUTER_SYSTEM = ("You route a customer-service conversation through a flowchart. Decide which option is true "
                 "after the customer's latest message.\n\n1. present_options: the customer gave a budget\n"
                 "2. ask_budget_again: no budget given\n3. escalate_to_human: asks for a person\n"
                 "4. goodbye: wants to leave\n\nAnswer with the name of the true statement's option only.")


def judge_requests(batch: int, constrained: bool) -> list[ChatRequest]:
    requests = []
    for index in range(batch):
        turns = [Turn(speaker=s, text=t) for s, t in CONVERSATIONS[index % len(CONVERSATIONS)]]
        requests.append(ChatRequest(messages=render_judge_prompt(turns).messages(), max_tokens=JUDGE_MAX_TOKENS,
                                    seed=index, output=RUBRIC_OUTPUT if constrained else None, purpose="judge"))
    return requests


def route_requests(batch: int, constrained: bool) -> list[ChatRequest]:
    return [ChatRequest(messages=(Message(role="system", content=ROUTER_SYSTEM),
                                  Message(role="user", content=CONVERSATIONS[i % len(CONVERSATIONS)][-1][1])),
                        max_tokens=32, seed=i, output=ROUTE if constrained else None, purpose="routing")
            for i in range(batch)]


async def timed(model: LocalModel, requests: list[ChatRequest]) -> tuple[float, list[ChatResult]]:
    started = time.perf_counter()
    results = list(await asyncio.gather(*(model.generate(r) for r in requests)))
    return time.perf_counter() - started, results


def valid_judges(results: list[ChatResult]) -> int:
    ok = 0
    for result in results:
        try:
            parse_judge_output(result.text)
            ok += 1
        except ValueError:
            pass
    return ok


async def main(args: argparse.Namespace) -> dict:
    model = LocalModel("smollm2-135m", threads=args.threads, max_batch_size=args.batch,
                       dtype=getattr(torch, args.dtype))
    model.load()
    await timed(model, route_requests(args.batch, True))          # warm-up: grammars, tokenizer view
    await timed(model, route_requests(args.batch, False))
    figures: dict = {}
    for kind, build in (("judge", judge_requests), ("route", route_requests)):
        rows = {"free": [], "constrained": []}
        for _ in range(args.rounds):
            for mode in ("free", "constrained"):
                wall, results = await timed(model, build(args.batch, mode == "constrained"))
                steps = max(r.usage.output_tokens for r in results)
                valid = (valid_judges(results) if kind == "judge"
                         else sum(r.text.strip() in ROUTE.choices for r in results))
                rows[mode].append({"wall_s": round(wall, 2), "steps": steps, "s_per_step": round(wall / steps, 4),
                                   "valid": f"{valid}/{len(results)}"})
        best = {mode: min(rows[mode], key=lambda r: r["s_per_step"]) for mode in rows}
        figures[kind] = {**rows, "per_step_ratio": round(best["constrained"]["s_per_step"] / best["free"]["s_per_step"], 2),
                         "wall_ratio": round(min(r["wall_s"] for r in rows["constrained"])
                                             / min(r["wall_s"] for r in rows["free"]), 2)}
    await model.aclose()
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=4, help="requests per batch (the rehearsal's 4 conditions)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=1))
