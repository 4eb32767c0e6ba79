from __future__ import annotations

import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from harness.judges.rubric import CRITERIA, Scores
from harness.stats import (
    align_by_scenario,
    bootstrap_mean_ci,
    bootstrap_mean_difference_ci,
    cluster_bootstrap_ci,
    cluster_means,
    cohens_d,
    compare_conditions,
    conversation_stats,
    count_questions,
    default_batch,
    failure_rate,
    format_p,
    holm,
    mann_whitney,
    significance_stars,
    wilcoxon_signed_rank,
)
from harness.transcript import Transcript, Turn

SEEDS = range(6)


def likert(rng: np.random.Generator, n: int, p: list[float] | None = None) -> np.ndarray:
    return rng.choice([1, 2, 3, 4, 5], size=n, p=p or [0.03, 0.07, 0.15, 0.35, 0.40]).astype(float)


# ---- Holm ----------------------------------------------------------------------------------------

def test_holm_with_ties_and_known_values() -> None:
    # Sorted 0.005, 0.01, 0.03, 0.04, 0.04 times 5..1 -> .025, .04, .09, .08, .04; running max.
    assert holm([0.01, 0.04, 0.03, 0.005, 0.04]) == pytest.approx([0.04, 0.09, 0.09, 0.025, 0.09])
    assert holm([0.01, 0.02, 0.03]) == pytest.approx([0.03, 0.04, 0.04])
    assert holm([]) == []
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        holm([0.5, 1.2])


# ---- rank tests ----------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [8, 30, 200])
def test_wilcoxon_equals_scipy_on_paired_likert_data(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    a = likert(rng, n)
    b = np.where(rng.random(n) < 0.5, a, likert(rng, n))   # many zero differences, like real pairs
    if np.all(a == b):
        b[0] = 6 - a[0] if a[0] != 3 else 4
    expected = sps.wilcoxon(a, b, zero_method="wilcox", alternative="two-sided", method="auto")
    got = wilcoxon_signed_rank(a, b)
    assert got.test == "wilcoxon"
    assert got.statistic == pytest.approx(float(expected.statistic), abs=1e-9)
    assert got.p_value == pytest.approx(float(expected.pvalue), abs=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("n_a", "n_b"), [(5, 7), (40, 60), (200, 200)])
def test_mann_whitney_equals_scipy(seed: int, n_a: int, n_b: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = likert(rng, n_a), likert(rng, n_b, [0.05, 0.1, 0.2, 0.35, 0.30])
    expected = sps.mannwhitneyu(a, b, alternative="two-sided", method="auto")
    got = mann_whitney(a, b)
    assert got.statistic == pytest.approx(float(expected.statistic), abs=1e-9)
    assert got.p_value == pytest.approx(float(expected.pvalue), abs=1e-9)


def test_rank_test_edge_cases_are_documented_values() -> None:
    same = wilcoxon_signed_rank([4, 5, 3], [4, 5, 3])
    assert (same.statistic, same.p_value) == (0.0, 1.0) and "zero" in same.note
    empty = wilcoxon_signed_rank([], [])
    assert (empty.statistic, empty.p_value) == (None, 1.0)
    assert wilcoxon_signed_rank([3], [4]).p_value == 1.0
    assert mann_whitney([], [1, 2]).p_value == 1.0 and mann_whitney([], [1, 2]).statistic is None
    assert mann_whitney([5, 5, 5], [5, 5, 5]).p_value == 1.0
    with pytest.raises(ValueError, match="equal length"):
        wilcoxon_signed_rank([1, 2], [1])
    with pytest.raises(ValueError, match="finite"):
        mann_whitney([1, float("nan")], [1, 2])


# ---- Cohen's d ---------------------------------------------------------------------------------------

def reference_d(a: list[float], b: list[float]) -> float:
    """d from the pooled-variance t statistic: t = d / sqrt(1/n_a + 1/n_b)."""
    t = sps.ttest_ind(a, b, equal_var=True).statistic
    return float(t * np.sqrt(1 / len(a) + 1 / len(b)))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("n_a", "n_b"), [(2, 3), (30, 45), (200, 200)])
def test_cohens_d_matches_the_pooled_t_statistic(seed: int, n_a: int, n_b: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(4.2, 0.7, n_a), rng.normal(4.0, 0.9, n_b)
    assert cohens_d(a, b) == pytest.approx(reference_d(a, b), abs=1e-9)
    assert cohens_d(b, a) == pytest.approx(-reference_d(a, b), abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=2, max_size=40), st.lists(st.integers(1, 5), min_size=2, max_size=40))
def test_cohens_d_matches_the_textbook_formula(a: list[int], b: list[int]) -> None:
    pooled = ((len(a) - 1) * statistics.variance(a) + (len(b) - 1) * statistics.variance(b)) / (len(a) + len(b) - 2)
    d = cohens_d(a, b)
    if pooled == 0:
        assert d == (0.0 if statistics.mean(a) == statistics.mean(b) else None)
    else:
        assert d == pytest.approx((statistics.mean(a) - statistics.mean(b)) / pooled**0.5, abs=1e-9)


def test_cohens_d_edge_cases() -> None:
    assert cohens_d([5, 5, 5], [5, 5]) == 0.0          # constant and equal: no effect
    assert cohens_d([5, 5, 5], [4, 4]) is None         # constant and different: unbounded
    assert cohens_d([5], [4]) is None                  # n < 3 in total: no variance estimate
    assert cohens_d([], [1, 2, 3]) is None
    assert cohens_d([5, 4], [4]) == pytest.approx(0.5 / np.sqrt(0.5))      # ss = 0.5, dof = 1


# ---- bootstrap ---------------------------------------------------------------------------------------

def test_a_sample_of_one_is_its_own_interval() -> None:
    # scipy resamples only samples of two or more; one observation is taken as exact.
    assert bootstrap_mean_ci([4]).model_dump(include={"estimate", "low", "high"}) == {
        "estimate": 4.0, "low": 4.0, "high": 4.0}
    assert bootstrap_mean_difference_ci([4], [2], paired=True).model_dump(include={"low", "high"}) == {
        "low": 2.0, "high": 2.0}
    other = likert(np.random.default_rng(5), 30)
    shifted = bootstrap_mean_ci(other, seed=3)
    one_side = bootstrap_mean_difference_ci([5], other, paired=False, seed=3)
    assert (one_side.low, one_side.high) == pytest.approx((5 - shifted.high, 5 - shifted.low))
    assert one_side.estimate == pytest.approx(5 - other.mean())
    assert bootstrap_mean_difference_ci(other, [2], paired=False, seed=3).low == pytest.approx(shifted.low - 2)


def test_batches_keep_the_index_matrix_small_and_change_nothing_else() -> None:
    assert default_batch(200, 10_000) == 10_000
    assert default_batch(1_000, 10_000) == 2_000
    a, b = likert(np.random.default_rng(1), 1_000), likert(np.random.default_rng(2), 1_000)
    ci = bootstrap_mean_difference_ci(a, b, paired=True, seed=0)
    assert ci.low < a.mean() - b.mean() < ci.high and ci.n_resamples == 10_000


def test_bootstrap_is_reproducible_for_a_seed_and_varies_across_seeds() -> None:
    x = likert(np.random.default_rng(3), 200)
    assert bootstrap_mean_ci(x, seed=11) == bootstrap_mean_ci(x, seed=11)
    assert bootstrap_mean_ci(x, seed=11) != bootstrap_mean_ci(x, seed=12)
    for seed in range(20):
        ci = bootstrap_mean_ci(x, seed=seed)
        assert ci.low < x.mean() < ci.high
        assert ci.high - ci.low < 0.4
    narrow = bootstrap_mean_ci(x, seed=0, confidence=0.5)
    wide = bootstrap_mean_ci(x, seed=0, confidence=0.99)
    assert wide.low < narrow.low < narrow.high < wide.high


def test_bootstrap_edge_cases() -> None:
    assert bootstrap_mean_ci([5, 5, 5], seed=0).model_dump(include={"low", "high"}) == {"low": 5.0, "high": 5.0}
    with pytest.raises(ValueError, match="at least one observation"):
        bootstrap_mean_ci([])
    with pytest.raises(ValueError, match="equal length"):
        bootstrap_mean_difference_ci([1, 2], [1], paired=True)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_mean_ci([1, 2], confidence=1.0)


# ---- rates, shares, conversation statistics ----------------------------------------------------

def scores(task_success: list[int]) -> list[Scores]:
    return [Scores(**{**dict.fromkeys(CRITERIA, 4), "task_success": t}) for t in task_success]


def test_failure_rate_is_task_success_at_most_3() -> None:
    # Table 5, travel 3B Sub: 11 failures of 200 = 5.5 %.
    rate = failure_rate(scores([3] * 6 + [2] * 3 + [1] * 2 + [4] * 100 + [5] * 89))
    assert (rate.failures, rate.n, rate.rate) == (11, 200, 0.055)
    assert failure_rate(scores([4, 3]), threshold=4).failures == 2
    with pytest.raises(ValueError):
        failure_rate([])





@pytest.mark.parametrize(("text", "questions"), [
    ("Where would you like to go?", 1),
    ("Great choice! When do you want to leave? And how many travellers?", 2),
    ("Really?? Okay.", 1),
    ('She asked "ready?" and left.', 1),
    ("(Is that right?) Let me check.", 1),
    ("Please tell me your dates.", 0),
    ("See https://example.com/?q=1 for details.", 0),
    ("", 0),
])
def test_question_counting_rule(text: str, questions: int) -> None:
    assert count_questions(text) == questions


def test_conversation_stats() -> None:
    def transcript(turns: list[tuple[str, str]], seconds: float) -> Transcript:
        return Transcript(procedure="p", condition="c", scenario_index=0, end_reason="terminal",
                          turns=[Turn(speaker=s, text=t) for s, t in turns], wall_clock_s=seconds)
    stats = conversation_stats([
        transcript([("agent", "Hi! Where to?"), ("user", "Lisbon please"), ("agent", "Dates? Budget?")], 10.0),
        transcript([("agent", "Hello. Where to?"), ("user", "Rome"), ("agent", "Booked."), ("user", "Thanks")], 20.0),
    ])
    assert stats.n == 2
    assert stats.mean_turns == 3.5
    assert stats.mean_agent_turns == 2.0
    assert stats.mean_words == pytest.approx((3 + 2 + 2 + 3 + 1 + 1 + 1) / 2)
    # Agent turns: "Where to?" (1), "Dates? Budget?" (2), "Where to?" (1), "Booked." (0).
    assert stats.one_question_share == pytest.approx(2 / 4)
    assert stats.mean_wall_clock_s == 15.0
    with pytest.raises(ValueError):
        conversation_stats([])


# ---- the comparison table ---------------------------------------------------------------------

def sample_scores(rng: np.random.Generator, n: int, shift: float) -> list[Scores]:
    cols = {c: np.clip(np.rint(rng.normal(4.2 + shift * (i % 2), 0.8, n)), 1, 5).astype(int)
            for i, c in enumerate(CRITERIA)}
    return [Scores(**{c: int(cols[c][j]) for c in CRITERIA}) for j in range(n)]


@pytest.mark.parametrize("paired", [True, False])
def test_compare_builds_a_table_7_block(paired: bool) -> None:
    rng = np.random.default_rng(42)
    a, b = sample_scores(rng, 200, 0.5), sample_scores(rng, 200, 0.0)
    table = compare_conditions(a, b, paired=paired, label_a="3B Sub", label_b="3B Orch", n_resamples=2000, seed=7)
    assert [r.criterion for r in table.rows] == list(CRITERIA)
    raw = [r.test.p_value for r in table.rows]
    assert [r.p_corrected for r in table.rows] == pytest.approx(holm(raw), abs=1e-12)
    for i, row in enumerate(table.rows):
        xa = np.array([s.get(row.criterion) for s in a], float)
        xb = np.array([s.get(row.criterion) for s in b], float)
        assert row.a.estimate == pytest.approx(xa.mean()) and row.b.estimate == pytest.approx(xb.mean())
        assert row.delta.estimate == pytest.approx(xa.mean() - xb.mean())
        assert row.cohens_d == pytest.approx(cohens_d(xa, xb))
        expected_test = wilcoxon_signed_rank(xa, xb) if paired else mann_whitney(xa, xb)
        assert row.test == expected_test
        assert row.stars == significance_stars(row.p_corrected)
        assert row.significant == (row.p_corrected < 0.05)
        if i % 2:     # criteria where A was shifted up by half a point
            assert row.delta.low > 0 and row.cohens_d > 0.3 and row.stars == "***"
    assert compare_conditions(a, b, paired=paired, n_resamples=2000, seed=7) .rows == table.rows


def test_a_condition_keeps_its_ci_across_comparisons() -> None:
    rng = np.random.default_rng(1)
    sub, orch, ic = (sample_scores(rng, 100, s) for s in (0.3, 0.0, 0.6))
    t1 = compare_conditions(sub, orch, paired=True, n_resamples=1000)
    t2 = compare_conditions(sub, ic, paired=False, n_resamples=1000)
    t3 = compare_conditions(ic, sub, paired=False, n_resamples=1000)
    for c in CRITERIA:
        assert t1.row(c).a == t2.row(c).a == t3.row(c).b


def test_compare_input_checks() -> None:
    s = scores([4, 5])
    with pytest.raises(ValueError, match="one B per A"):
        compare_conditions(s, s[:1], paired=True)
    with pytest.raises(ValueError, match="both conditions"):
        compare_conditions(s, [], paired=False)
    # Identical constant conditions: no NaN anywhere, nothing significant.
    flat = compare_conditions(scores([4] * 10), scores([4] * 10), paired=True, n_resamples=200)
    for row in flat.rows:
        assert row.p_corrected == 1.0 and row.cohens_d == 0.0 and row.stars == ""


def test_align_by_scenario_and_formatting() -> None:
    idx, a, b = align_by_scenario({3: "a3", 1: "a1", 7: "a7"}, {1: "b1", 3: "b3", 9: "b9"})
    assert (idx, a, b) == ([1, 3], ["a1", "a3"], ["b1", "b3"])
    with pytest.raises(ValueError, match="shared scenario"):
        align_by_scenario({1: 1}, {2: 2})
    assert [format_p(p) for p in (0.0004, 0.292, 0.032, 1.0)] == ["< .001", ".292", ".032", "1.000"]
    assert [significance_stars(p) for p in (0.0009, 0.002, 0.03, 0.2)] == ["***", "**", "*", ""]


def test_cluster_means_average_each_scenario_s_trials() -> None:
    assert cluster_means({(0, 0): 4, (0, 1): 2, (1, 0): 5}) == {0: 3.0, 1: 5.0}


def test_a_cluster_bootstrap_of_singletons_is_the_plain_bootstrap() -> None:
    x = [4, 5, 3, 4, 5, 2, 4]
    plain, clustered = bootstrap_mean_ci(x, seed=3), cluster_bootstrap_ci(x, list(range(len(x))), seed=3)
    assert clustered.estimate == plain.estimate
    assert clustered.low == pytest.approx(plain.low) and clustered.high == pytest.approx(plain.high)


def test_clustering_widens_the_ci_when_trials_of_a_scenario_agree() -> None:
    # Three identical trials per scenario: no more information than one trial each.
    per_scenario = [1.0, 0.0, 2.0, -1.0, 0.5, 1.5]
    values = [v for v in per_scenario for _ in range(3)]
    clusters = [i for i in range(6) for _ in range(3)]
    naive = bootstrap_mean_ci(values, seed=0)
    clustered = cluster_bootstrap_ci(values, clusters, seed=0)
    one_each = bootstrap_mean_ci(per_scenario, seed=0)
    assert clustered.high - clustered.low > 1.3 * (naive.high - naive.low)
    assert clustered.high - clustered.low == pytest.approx(one_each.high - one_each.low, rel=0.1)


def test_one_cluster_is_a_degenerate_interval_and_bad_input_is_refused() -> None:
    ci = cluster_bootstrap_ci([1, 2, 3], [0, 0, 0])
    assert (ci.low, ci.estimate, ci.high) == (2.0, 2.0, 2.0)
    with pytest.raises(ValueError, match="one cluster per value"):
        cluster_bootstrap_ci([1, 2], [0])
    with pytest.raises(ValueError, match="none"):
        cluster_bootstrap_ci([], [])
    with pytest.raises(ValueError, match="finite"):
        cluster_bootstrap_ci([np.nan, 1], [0, 1])
