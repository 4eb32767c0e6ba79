"""pass^k, flaky scenarios, CIs clustered by scenario, scenarios that would decide."""

from __future__ import annotations

from math import comb

import pytest

from harness.reliability import (
    flaky,
    pass_hat_k,
    pass_k_curve,
    scenarios_to_decide,
)
from harness.stats import CI


def test_pass_hat_k_is_tau_bench_s_unbiased_estimator() -> None:
    outcomes = {0: (3, 3), 1: (2, 3), 2: (0, 3), 3: (1, 3)}
    assert pass_hat_k(outcomes, 1) == pytest.approx((3 + 2 + 0 + 1) / 12)
    assert pass_hat_k(outcomes, 2) == pytest.approx((1 + comb(2, 2) / comb(3, 2) + 0 + 0) / 4)
    assert pass_hat_k(outcomes, 3) == pytest.approx(1 / 4)
    curve = pass_k_curve(outcomes, 3)
    assert list(curve) == [1, 2, 3] and curve[1] >= curve[2] >= curve[3]


def test_pass_hat_k_leaves_out_tasks_with_too_few_trials_and_refuses_nonsense() -> None:
    assert pass_hat_k({0: (1, 1), 1: (2, 2)}, 2) == 1.0
    assert pass_hat_k({0: (1, 1)}, 2) is None and pass_k_curve({0: (1, 1)}, 3) == {1: 1.0}
    with pytest.raises(ValueError, match="3 passes in 2 trials"):
        pass_hat_k({0: (3, 2)}, 1)
    with pytest.raises(ValueError, match="at least 1"):
        pass_hat_k({0: (1, 1)}, 0)


def test_flaky_are_the_scenarios_that_passed_some_trials_and_failed_others() -> None:
    assert flaky({0: (3, 3), 1: (1, 3), 2: (0, 3), 3: (2, 3)}) == [1, 3]


def test_scenarios_to_decide_scale_the_ci_as_one_over_root_n() -> None:
    ci = CI(estimate=0.0, low=-0.5, high=0.5)
    n = scenarios_to_decide(ci, 6, -0.25, above=True)      # the lower bound must clear −0.25
    assert n == 25                                         # 6 · (0.5 / 0.25)² = 24, and strictly more
    assert scenarios_to_decide(ci, 6, 0.0, above=False) is None     # Δ = 0 never shows a drop
    assert scenarios_to_decide(CI(estimate=0.0, low=-0.1, high=0.1), 6, -0.25, above=True) == 6
    drop = CI(estimate=-0.4, low=-0.9, high=0.1)
    assert scenarios_to_decide(drop, 10, 0.0, above=False) == 16    # 10 · (0.5 / 0.4)² = 15.6
