"""Vectorised bootstrap CI vs. the same bootstrap as a Python loop over resamples.

    .venv/bin/python benchmarks/bootstrap.py

For n = 200 Likert scores (one condition, one criterion, as in the paper) and 10,000
resamples, times `harness.stats.bootstrap_mean_ci` against a loop that draws and averages
one resample per iteration from the same Generator state, checks that both give the same
interval, and prints the speed ratios (also against a pure-Python loop with `random.choices`). Then times one full `compare_conditions` (five criteria, two
mean CIs and a difference CI each, tests, Holm) as a table of Appendix B would need it.
"""

from __future__ import annotations

import random
import statistics
import time

import numpy as np

from harness.judges.rubric import CRITERIA, Scores
from harness.stats import bootstrap_mean_ci, compare_conditions

N, RESAMPLES, REPEATS = 200, 10_000, 5


def loop_ci(x: np.ndarray, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(RESAMPLES):
        idx = rng.integers(0, x.size, x.size)
        means.append(float(x[idx].mean()))
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def pure_python_ci(x: list[float], seed: int) -> tuple[float, float]:
    """The same bootstrap with no numpy at all (different random stream, so a close interval)."""
    rnd = random.Random(seed)
    means = sorted(statistics.fmean(rnd.choices(x, k=len(x))) for _ in range(RESAMPLES))
    q = statistics.quantiles(means, n=40, method="inclusive")
    return q[0], q[-1]


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.choice([1, 2, 3, 4, 5], size=N, p=[0.03, 0.07, 0.15, 0.35, 0.40]).astype(float)

    vec = bootstrap_mean_ci(x, seed=1)
    loop = loop_ci(x, seed=1)
    same = np.allclose((vec.low, vec.high), loop, atol=1e-12)
    t_vec = best_of(lambda: bootstrap_mean_ci(x, seed=1), REPEATS)
    t_loop = best_of(lambda: loop_ci(x, seed=1), 2)
    print(f"bootstrap mean CI, n={N}, {RESAMPLES:,} resamples")
    print(f"  vectorised : {t_vec * 1e3:8.1f} ms   CI [{vec.low:.4f}, {vec.high:.4f}]")
    print(f"  python loop: {t_loop * 1e3:8.1f} ms   CI [{loop[0]:.4f}, {loop[1]:.4f}]   same interval: {same}")
    t_pure = best_of(lambda: pure_python_ci(x.tolist(), seed=1), 1)
    pure = pure_python_ci(x.tolist(), seed=1)
    print(f"  pure python: {t_pure * 1e3:8.1f} ms   CI [{pure[0]:.4f}, {pure[1]:.4f}]   (random.choices, own stream)")
    print(f"  speed-up vs numpy-per-resample loop: {t_loop / t_vec:6.1f}x; vs pure python: {t_pure / t_vec:6.1f}x")

    scores = [
        [Scores(**{c: int(v) for c, v in zip(CRITERIA, rng.choice([3, 4, 5], size=5), strict=True)})
         for _ in range(N)]
        for _ in range(2)
    ]
    t_table = best_of(lambda: compare_conditions(scores[0], scores[1], paired=True), 3)
    print(f"one comparison block (5 criteria x 3 CIs + tests + Holm): {t_table * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
