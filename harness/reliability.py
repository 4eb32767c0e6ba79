"""Repeated trials: pass^k, flaky scenarios, and the scenarios a clustered CI would need.

(The clustered bootstrap itself, `cluster_bootstrap_ci`, is a statistic like the others and
lives in `harness.stats`, which `compare_conditions` uses with trials.)

A gate may run each scenario k times per condition (independent sampling: distinct seeds,
cache entries and, for local models, sampling temperature). Trials of one scenario are
not independent of each other — a hard scenario is hard in every trial — so every
interval here resamples *scenarios* (clusters) with all their trials, never single trials.

- `pass_hat_k`: tau-bench's unbiased pass^k (Yao et al., 2024, §5): for a task with c
  passes in n trials, C(c, k) / C(n, k) is the chance that k trials drawn without
  replacement all pass; averaged over tasks. pass^1 is the plain pass rate, and pass^k
  never rises with k.
- `scenarios_to_decide`: how many scenarios a CI of this variance would need to clear a
  bound, assuming the estimate stays where it is (the half-width shrinks as 1/√n).

Pure functions of their inputs, deterministic for a given seed.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping

import numpy as np
from scipy.special import comb

from harness.stats import CI

__all__ = [
    "TrialOutcomes",
    "flaky",
    "pass_hat_k",
    "pass_k_curve",
    "scenarios_to_decide",
]

# (passes, trials) per task
TrialOutcomes = Mapping[Hashable, tuple[int, int]]


def pass_hat_k(outcomes: TrialOutcomes, k: int) -> float | None:
    """Mean over tasks of C(c, k) / C(n, k); tasks with fewer than k trials are left out
    (None when no task has k trials)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, found {k}")
    ratios = []
    for task, (c, n) in outcomes.items():
        if not 0 <= c <= n:
            raise ValueError(f"task {task!r}: {c} passes in {n} trials")
        if n >= k:
            ratios.append(comb(c, k, exact=True) / comb(n, k, exact=True))
    return float(np.mean(ratios)) if ratios else None


def pass_k_curve(outcomes: TrialOutcomes, max_k: int) -> dict[int, float]:
    """pass^k for k = 1 … max_k (the k that some task has enough trials for)."""
    curve = {k: pass_hat_k(outcomes, k) for k in range(1, max_k + 1)}
    return {k: v for k, v in curve.items() if v is not None}


def flaky(outcomes: TrialOutcomes) -> list[Hashable]:
    """Tasks that passed some trials and failed others, in key order."""
    return sorted(task for task, (c, n) in outcomes.items() if 0 < c < n)


def scenarios_to_decide(ci: CI, clusters: int, bound: float, *, above: bool) -> int | None:
    """Scenarios a CI as wide as `ci` per scenario would need for its lower bound to clear
    `bound` (`above`) or its upper bound to fall below it (not `above`), if the estimate
    stayed where it is. None when the estimate itself is on the wrong side (no n decides it);
    `clusters` when the CI already does."""
    gap = ci.estimate - bound if above else bound - ci.estimate
    if gap <= 0:
        return None
    side = ci.estimate - ci.low if above else ci.high - ci.estimate   # the side that must clear it
    if side <= 0 or (ci.low > bound if above else ci.high < bound):
        return clusters
    # The interval's width scales as 1/√n, so `side` shrinks below `gap` once n' > n · (side / gap)².
    return max(clusters, math.floor(clusters * (side / gap) ** 2) + 1)
