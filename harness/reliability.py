"""Repeated trials: pass^k, flaky scenarios, and confidence intervals clustered by scenario.

A gate may run each scenario k times per condition (independent sampling: distinct seeds,
cache entries and, for local models, sampling temperature). Trials of one scenario are
not independent of each other — a hard scenario is hard in every trial — so every
interval here resamples *scenarios* (clusters) with all their trials, never single trials.

- `pass_hat_k`: tau-bench's unbiased pass^k (Yao et al., 2024, §5): for a task with c
  passes in n trials, C(c, k) / C(n, k) is the chance that k trials drawn without
  replacement all pass; averaged over tasks. pass^1 is the plain pass rate, and pass^k
  never rises with k.
- `cluster_bootstrap_ci`: percentile bootstrap of a mean over (scenario, trial) values,
  resampling scenarios with replacement (`scipy.stats.bootstrap`, paired over per-scenario
  sums and counts, so the statistic is a ratio of totals: unbalanced trials weigh by count).
- `scenarios_to_decide`: how many scenarios a CI of this variance would need to clear a
  bound, assuming the estimate stays where it is (the half-width shrinks as 1/√n).

Pure functions of their inputs, deterministic for a given seed.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from scipy import stats as sps
from scipy.special import comb

from harness.stats import CI, N_RESAMPLES, Seed, default_batch

__all__ = [
    "TrialOutcomes",
    "cluster_bootstrap_ci",
    "cluster_means",
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


def cluster_means(values: Mapping[tuple[int, int], float]) -> dict[int, float]:
    """(scenario, trial) → value, as scenario → mean over its trials."""
    sums: dict[int, list[float]] = {}
    for (scenario, _trial), v in values.items():
        sums.setdefault(scenario, []).append(v)
    return {s: float(np.mean(v)) for s, v in sorted(sums.items())}


def _ratio_of_totals(sums: np.ndarray, counts: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sum(sums, axis=axis) / np.sum(counts, axis=axis)


def cluster_bootstrap_ci(values: Sequence[float], clusters: Sequence[Hashable], *,
                         n_resamples: int = N_RESAMPLES, confidence: float = 0.95, seed: Seed = 0) -> CI:
    """Percentile bootstrap CI of the mean of `values`, resampling whole clusters.

    `clusters[i]` names the cluster (scenario) of `values[i]`. One cluster gives the
    degenerate interval [mean, mean]; no values, a ValueError.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size != len(clusters):
        raise ValueError(f"expected one cluster per value, found {x.size} values and {len(clusters)} clusters")
    if x.size == 0:
        raise ValueError("expected at least one observation for a bootstrap CI, found none")
    if not np.all(np.isfinite(x)):
        raise ValueError("expected finite numbers, found NaN or infinity")
    order = sorted(set(clusters), key=repr)
    where = {c: i for i, c in enumerate(order)}
    sums, counts = np.zeros(len(order)), np.zeros(len(order))
    for v, c in zip(x, clusters, strict=True):
        sums[where[c]] += v
        counts[where[c]] += 1
    estimate = float(x.mean())
    if len(order) == 1:
        return CI(estimate=estimate, low=estimate, high=estimate, confidence=confidence, n_resamples=n_resamples)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    res = sps.bootstrap((sums, counts), _ratio_of_totals, paired=True, vectorized=True, n_resamples=n_resamples,
                        batch=default_batch(len(order), n_resamples), confidence_level=confidence,
                        method="percentile", rng=rng)
    return CI(estimate=estimate, low=float(res.confidence_interval.low), high=float(res.confidence_interval.high),
              confidence=confidence, n_resamples=n_resamples)


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
