"""Statistics for comparing conditions, as the paper reports them (§3, §4.4, Appendix B).

- Tests: Wilcoxon signed-rank when two conditions ran in the same run and are paired by
  scenario index; Mann–Whitney U otherwise. Both two-sided, from scipy with its defaults
  (Wilcoxon drops zero differences, ``zero_method="wilcox"``; both choose exact or normal
  approximation with ``method="auto"``).
- Holm–Bonferroni across the five criteria within one comparison (`holm`, statsmodels).
- Cohen's d with the pooled SD, sign = A − B (also for paired data, as in the paper).
- Bootstrap 95 % CIs: ``scipy.stats.bootstrap``, percentile method, 10,000 resamples, seeded
  with a numpy Generator, drawn in batches of at most 16 MB of indices.
- Failure rate (task success <= 3), % of a reference condition's quality, and descriptive
  conversation statistics (turns, words, one-question share of agent turns, wall-clock).

Edge cases give documented values instead of NaN or a crash:

- a test with no data (no pairs, or an empty group): p = 1.0, statistic None;
- Wilcoxon where every paired difference is zero: statistic 0.0, p = 1.0;
- Cohen's d with fewer than 3 observations in total: None; with zero pooled SD: 0.0 when the
  means are equal, None when they differ (the effect is unbounded);
- a bootstrap CI of one observation: the degenerate interval [x, x]; of none: ValueError.

One module (over 300 lines) on purpose: every statistical convention the report follows is
read in one place, in the paper's order; the computing is scipy's and statsmodels'.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import stats as sps

from harness.judges.rubric import CRITERIA, FAILURE_AT_OR_BELOW, Criterion, Scores
from harness.transcript import Transcript

__all__ = [
    "CI",
    "Comparison",
    "ComparisonRow",
    "ConversationStats",
    "FailureRate",
    "RankTest",
    "align_by_scenario",
    "bootstrap_mean_ci",
    "bootstrap_mean_difference_ci",
    "cluster_bootstrap_ci",
    "cluster_means",
    "cohens_d",
    "compare_conditions",
    "conversation_stats",
    "count_questions",
    "default_batch",
    "failure_rate",
    "format_p",
    "holm",
    "mann_whitney",
    "significance_stars",
    "wilcoxon_signed_rank",
]

N_RESAMPLES = 10_000
# Largest resample index matrix drawn at once (elements); 2M int64 = 16 MB.
_MAX_BATCH_ELEMENTS = 2_000_000

Seed = int | np.random.Generator
T = TypeVar("T")


def _values(x: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a flat sequence of numbers, found shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite numbers, found NaN or infinity")
    return arr


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


# ---- bootstrap ---------------------------------------------------------------------------

class CI(BaseModel):
    """A point estimate with its bootstrap percentile interval."""

    model_config = ConfigDict(frozen=True)

    estimate: float
    low: float
    high: float
    confidence: float = 0.95
    n_resamples: int = N_RESAMPLES


def default_batch(n: int, n_resamples: int) -> int:
    """Resamples drawn per batch: all at once unless the index matrix would pass 16 MB."""
    return max(1, min(n_resamples, _MAX_BATCH_ELEMENTS // max(n, 1)))


def _percentile_ci(samples: tuple[np.ndarray, ...], statistic: Callable[..., np.ndarray], estimate: float, *,
                   paired: bool, n_resamples: int, confidence: float, rng: np.random.Generator,
                   batch: int | None) -> CI:
    """scipy's percentile bootstrap; a statistic of one observation is its own interval."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), found {confidence}")
    if all(x.size == 1 for x in samples):
        return CI(estimate=estimate, low=estimate, high=estimate, confidence=confidence, n_resamples=n_resamples)
    res = sps.bootstrap(samples, statistic, paired=paired, vectorized=True, n_resamples=n_resamples,
                        batch=batch or default_batch(max(x.size for x in samples), n_resamples),
                        confidence_level=confidence, method="percentile", rng=rng)
    return CI(estimate=estimate, low=float(res.confidence_interval.low), high=float(res.confidence_interval.high),
              confidence=confidence, n_resamples=n_resamples)


def bootstrap_mean_ci(x: Sequence[float], *, n_resamples: int = N_RESAMPLES, confidence: float = 0.95,
                      seed: Seed = 0, batch: int | None = None) -> CI:
    """Percentile bootstrap CI of the mean of `x`."""
    arr = _values(x, "sample")
    if arr.size == 0:
        raise ValueError("expected at least one observation for a bootstrap CI, found none")
    return _percentile_ci((arr,), np.mean, float(arr.mean()), paired=False, n_resamples=n_resamples,
                          confidence=confidence, rng=_rng(seed), batch=batch)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _mean_of_differences(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def bootstrap_mean_difference_ci(a: Sequence[float], b: Sequence[float], *, paired: bool,
                                 n_resamples: int = N_RESAMPLES, confidence: float = 0.95,
                                 seed: Seed = 0, batch: int | None = None) -> CI:
    """Percentile bootstrap CI of mean(a) − mean(b).

    Paired: pairs (a_i, b_i) are resampled together (the CI of the mean difference).
    Unpaired: a and b are resampled independently; a sample of one observation is taken as
    exact (scipy resamples only samples of two or more).
    """
    x, y = _values(a, "sample A"), _values(b, "sample B")
    if x.size == 0 or y.size == 0:
        raise ValueError(f"expected observations in both samples, found {x.size} and {y.size}")
    estimate = float(x.mean() - y.mean())
    rng = _rng(seed)
    common = {"n_resamples": n_resamples, "confidence": confidence, "rng": rng, "batch": batch}
    if paired:
        if x.size != y.size:
            raise ValueError(f"paired samples must have equal length, found {x.size} and {y.size}")
        return _percentile_ci((x, y), _mean_of_differences, estimate, paired=True, **common)
    if y.size == 1:
        ci = _percentile_ci((x,), np.mean, float(x.mean()), paired=False, **common)
        return ci.model_copy(update={"estimate": estimate, "low": ci.low - y[0], "high": ci.high - y[0]})
    if x.size == 1:
        ci = _percentile_ci((y,), np.mean, float(y.mean()), paired=False, **common)
        return ci.model_copy(update={"estimate": estimate, "low": x[0] - ci.high, "high": x[0] - ci.low})
    return _percentile_ci((x, y), _mean_difference, estimate, paired=False, **common)


# ---- tests, effect size, correction ------------------------------------------------------------

class RankTest(BaseModel):
    """Outcome of a two-sided rank test."""

    model_config = ConfigDict(frozen=True)

    test: Literal["wilcoxon", "mann-whitney"]
    statistic: float | None
    p_value: float
    n_a: int
    n_b: int
    note: str = ""


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


def wilcoxon_signed_rank(a: Sequence[float], b: Sequence[float]) -> RankTest:
    """Wilcoxon signed-rank test on the pairs (a_i, b_i); a_i and b_i share a scenario."""
    x, y = _values(a, "sample A"), _values(b, "sample B")
    if x.size != y.size:
        raise ValueError(f"paired samples must have equal length, found {x.size} and {y.size}")
    if x.size == 0:
        return RankTest(test="wilcoxon", statistic=None, p_value=1.0, n_a=0, n_b=0, note="no pairs")
    if np.all(x == y):
        # scipy returns p = 1 here too, but through a 0/0 warning; say it plainly.
        return RankTest(test="wilcoxon", statistic=0.0, p_value=1.0, n_a=x.size, n_b=y.size,
                        note="all paired differences are zero")
    res = sps.wilcoxon(x, y, zero_method="wilcox", alternative="two-sided", method="auto")
    return RankTest(test="wilcoxon", statistic=float(res.statistic), p_value=float(res.pvalue),
                    n_a=x.size, n_b=y.size)


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> RankTest:
    """Mann–Whitney U test (two-sided) of independent samples; the statistic is U of `a`."""
    x, y = _values(a, "sample A"), _values(b, "sample B")
    if x.size == 0 or y.size == 0:
        return RankTest(test="mann-whitney", statistic=None, p_value=1.0, n_a=x.size, n_b=y.size,
                        note="an empty sample")
    res = sps.mannwhitneyu(x, y, alternative="two-sided", method="auto")
    return RankTest(test="mann-whitney", statistic=float(res.statistic), p_value=float(res.pvalue),
                    n_a=x.size, n_b=y.size)


def cohens_d(a: Sequence[float], b: Sequence[float]) -> float | None:
    """(mean(a) − mean(b)) / pooled SD, the SDs with n − 1. None where undefined (see module doc)."""
    x, y = _values(a, "sample A"), _values(b, "sample B")
    dof = x.size + y.size - 2
    if x.size == 0 or y.size == 0 or dof < 1:
        return None
    ss = ((x - x.mean()) ** 2).sum() + ((y - y.mean()) ** 2).sum()
    diff = float(x.mean() - y.mean())
    if ss == 0:
        return 0.0 if diff == 0 else None
    return diff / math.sqrt(ss / dof)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order (statsmodels' ``multipletests``)."""
    from statsmodels.stats.multitest import multipletests

    p = _values(p_values, "p-values")
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"expected p-values in [0, 1], found {p.tolist()}")
    if p.size == 0:
        return []
    return [float(v) for v in multipletests(p, method="holm")[1]]


def significance_stars(p: float) -> str:
    """The paper's marks: *** p < .001, ** p < .01, * p < .05."""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def format_p(p: float) -> str:
    """A p-value the way the paper prints it: "< .001", ".032", "1.000"."""
    if p < 0.001:
        return "< .001"
    text = f"{p:.3f}"
    return text[1:] if text.startswith("0") else text


# ---- rates and shares ---------------------------------------------------------------------------

class FailureRate(BaseModel):
    model_config = ConfigDict(frozen=True)

    failures: int
    n: int
    rate: float
    threshold: int


def failure_rate(scores: Sequence[Scores], *, threshold: int = FAILURE_AT_OR_BELOW) -> FailureRate:
    """Conversations whose task success is <= `threshold` (the paper's failure)."""
    if not scores:
        raise ValueError("expected at least one scored conversation, found none")
    failures = sum(s.task_success <= threshold for s in scores)
    return FailureRate(failures=failures, n=len(scores), rate=failures / len(scores), threshold=threshold)





# ---- descriptive conversation statistics --------------------------------------------------------

# A question is a run of "?" that ends a sentence: followed (after any closing quotes or
# brackets) by whitespace or the end of the text. "Really?? Okay?" is two questions;
# "a.com/?q=1" is none; a request phrased without "?" ("Tell me your dates.") is none.
_QUESTION = re.compile(r"\?+(?=[\"'”’)\]]*(?:\s|$))")


def count_questions(text: str) -> int:
    """Number of "?"-terminated sentences in `text` (see `_QUESTION` for the rule)."""
    return len(_QUESTION.findall(text))


class ConversationStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    n: int
    mean_turns: float                 # all turns, agent and customer
    mean_agent_turns: float
    mean_words: float                 # whitespace-separated words, all turns
    one_question_share: float         # of all agent turns pooled: exactly one question
    mean_wall_clock_s: float


def conversation_stats(transcripts: Sequence[Transcript]) -> ConversationStats:
    """Table 4 and §4.4 figures for one condition's transcripts."""
    if not transcripts:
        raise ValueError("expected at least one transcript, found none")
    agent_turns = [t for tr in transcripts for t in tr.turns if t.speaker == "agent"]
    one_question = sum(count_questions(t.text) == 1 for t in agent_turns)
    return ConversationStats(
        n=len(transcripts),
        mean_turns=float(np.mean([len(tr.turns) for tr in transcripts])),
        mean_agent_turns=len(agent_turns) / len(transcripts),
        mean_words=float(np.mean([sum(len(t.text.split()) for t in tr.turns) for tr in transcripts])),
        one_question_share=one_question / len(agent_turns) if agent_turns else 0.0,
        mean_wall_clock_s=float(np.mean([tr.wall_clock_s for tr in transcripts])),
    )


# ---- one pairwise comparison (a block of Tables 7–9) --------------------------------------------

class ComparisonRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    criterion: Criterion
    a: CI                      # mean of A with its bootstrap CI
    b: CI
    delta: CI                  # mean A − mean B with its bootstrap CI
    cohens_d: float | None
    test: RankTest
    p_corrected: float         # Holm across the five criteria of this comparison
    significant: bool          # p_corrected < alpha
    stars: str


class Comparison(BaseModel):
    model_config = ConfigDict(frozen=True)

    label_a: str
    label_b: str
    paired: bool
    n_a: int
    n_b: int
    alpha: float
    seed: int
    rows: list[ComparisonRow]

    def row(self, criterion: Criterion) -> ComparisonRow:
        for r in self.rows:
            if r.criterion == criterion:
                return r
        raise KeyError(criterion)


def align_by_scenario(a: Mapping[int, T], b: Mapping[int, T]) -> tuple[list[int], list[T], list[T]]:
    """Pair two conditions' results on the scenario indices both have, in index order."""
    common = sorted(set(a) & set(b))
    if not common:
        raise ValueError(f"expected shared scenario indices to pair on, found none ({len(a)} vs {len(b)} results)")
    return common, [a[i] for i in common], [b[i] for i in common]


def compare_conditions(scores_a: Sequence[Scores], scores_b: Sequence[Scores], *, paired: bool,
            label_a: str = "A", label_b: str = "B", n_resamples: int = N_RESAMPLES,
            confidence: float = 0.95, alpha: float = 0.05, seed: int = 0,
            clusters: Sequence[int] | None = None) -> Comparison:
    """Condition A against condition B on every criterion, as one block of Tables 7–9.

    Paired: `scores_a[i]` and `scores_b[i]` are the same scenario (see `align_by_scenario`);
    Wilcoxon signed-rank. Unpaired: Mann–Whitney U. p-values are Holm-corrected across the
    five criteria. A sample's CI depends only on its scores, the criterion and `seed`, so a
    condition shows the same CI in every comparison it appears in.

    `clusters` (paired only): the scenario of each pair, when scenarios ran several trials.
    The CIs then resample whole scenarios (`cluster_bootstrap_ci`) and
    the Wilcoxon test pairs per-scenario means; without repeats it changes nothing.
    """
    if paired and len(scores_a) != len(scores_b):
        raise ValueError(f"paired comparison needs one B per A, found {len(scores_a)} and {len(scores_b)}")
    if not scores_a or not scores_b:
        raise ValueError(f"expected scores for both conditions, found {len(scores_a)} and {len(scores_b)}")
    clustered = clusters is not None and len(set(clusters)) < len(clusters)
    if clustered and (not paired or len(clusters) != len(scores_a)):   # type: ignore[arg-type]
        raise ValueError("clusters name the scenario of each pair of a paired comparison")
    partial = []
    for i, criterion in enumerate(CRITERIA):
        a = np.array([s.get(criterion) for s in scores_a], dtype=float)
        b = np.array([s.get(criterion) for s in scores_b], dtype=float)
        ci = {"n_resamples": n_resamples, "confidence": confidence}
        if clustered:
            keys = [(c, j) for j, c in enumerate(clusters)]   # type: ignore[arg-type]
            means_a = list(cluster_means(dict(zip(keys, a, strict=True))).values())
            means_b = list(cluster_means(dict(zip(keys, b, strict=True))).values())
            partial.append((
                criterion,
                cluster_bootstrap_ci(a, clusters, seed=np.random.default_rng([seed, i]), **ci),  # type: ignore[arg-type]
                cluster_bootstrap_ci(b, clusters, seed=np.random.default_rng([seed, i]), **ci),  # type: ignore[arg-type]
                cluster_bootstrap_ci(a - b, clusters, seed=np.random.default_rng([seed, i, 1]), **ci),  # type: ignore[arg-type]
                cohens_d(a, b),
                wilcoxon_signed_rank(means_a, means_b),
            ))
            continue
        partial.append((
            criterion,
            bootstrap_mean_ci(a, seed=np.random.default_rng([seed, i]), **ci),
            bootstrap_mean_ci(b, seed=np.random.default_rng([seed, i]), **ci),
            bootstrap_mean_difference_ci(a, b, paired=paired, seed=np.random.default_rng([seed, i, 1]), **ci),
            cohens_d(a, b),
            wilcoxon_signed_rank(a, b) if paired else mann_whitney(a, b),
        ))
    corrected = holm([p[5].p_value for p in partial])
    rows = [
        ComparisonRow(criterion=c, a=ci_a, b=ci_b, delta=ci_d, cohens_d=d, test=test,
                      p_corrected=p, significant=p < alpha, stars=significance_stars(p))
        for (c, ci_a, ci_b, ci_d, d, test), p in zip(partial, corrected, strict=True)
    ]
    return Comparison(label_a=label_a, label_b=label_b, paired=paired, n_a=len(scores_a),
                      n_b=len(scores_b), alpha=alpha, seed=seed, rows=rows)
