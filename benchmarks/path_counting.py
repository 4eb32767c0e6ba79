"""Path counting on large generated procedures: DP count vs. enumeration.

    .venv/bin/python benchmarks/path_counting.py

Builds a 200-node procedure (agent/user stages, each user hub choosing between the main
line, a detour and a loop back) with ~10^12 paths, times the DP count, and compares it
with enumerating a smaller procedure of the same shape in the same run (enumeration
time per path × 10^12 paths is what counting by enumeration would cost).
"""

from __future__ import annotations

import time

from harness.procedure import PathSpace, Procedure


def staged_procedure(stages: int, loop_every: int = 25, straight_every: int = 5) -> Procedure:
    """4 nodes per stage; every `loop_every`-th hub may also loop back to its stage start,
    every `straight_every`-th detour rejoins without a choice (keeps the count near 10^12)."""
    nodes: dict = {}
    for i in range(stages):
        nxt = f"a{i + 1}" if i + 1 < stages else "done"
        edges = [{"to": f"b{i}", "when": "detour"}]
        if i % straight_every:
            edges.insert(0, {"to": nxt, "when": "continue"})
        if i % loop_every == 0:
            edges.append({"to": f"a{i}", "when": "start this stage again"})
        nodes[f"a{i}"] = {"role": "agent", "prompt": "ask", "next": f"u{i}"}
        nodes[f"u{i}"] = {"role": "user", "prompt": "answer", "next": edges if len(edges) > 1 else edges[0]["to"]}
        nodes[f"b{i}"] = {"role": "agent", "prompt": "detour", "next": f"v{i}"}
        nodes[f"v{i}"] = {"role": "user", "prompt": "reply", "next": nxt}
    nodes["done"] = {"role": "agent", "prompt": "close", "terminal": "success"}
    return Procedure.model_validate({"name": "bench", "title": "bench", "system_prompt": "s",
                                     "start": "a0", "nodes": nodes})


def main() -> None:
    big = staged_procedure(50)
    t0 = time.perf_counter()
    stats = PathSpace(big).stats()
    count_s = time.perf_counter() - t0
    print(f"count: {len(big.nodes)} nodes, {stats.count:.3e} paths, "
          f"{stats.min_turns}-{stats.max_turns} turns, {count_s * 1000:.1f} ms")

    small = staged_procedure(20)
    space = PathSpace(small)
    t0 = time.perf_counter()
    n = sum(1 for _ in space.enumerate())
    enum_s = time.perf_counter() - t0
    per_path = enum_s / n
    print(f"enumerate: {len(small.nodes)} nodes, {n:,} paths in {enum_s:.2f} s ({per_path * 1e6:.2f} µs/path)")
    projected = per_path * stats.count
    print(f"ratio: enumerating the 200-node procedure would take ~{projected / 86400 / 365:.0f} years, "
          f"{projected / count_s:.2e}x the DP count")


if __name__ == "__main__":
    main()
