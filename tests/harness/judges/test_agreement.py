from __future__ import annotations

import numpy as np
import pytest

from harness.judges.agreement import (
    agreement,
    krippendorff_alpha,
    quadratic_kappa,
)
from harness.judges.rubric import CRITERIA, Scores


def correlated_scores(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Two judges: a shared latent quality plus judge-specific noise, rounded onto 1..5."""
    latent = rng.normal(4.0, 0.9, n)
    a = np.clip(np.rint(latent + rng.normal(0, noise, n)), 1, 5).astype(int)
    b = np.clip(np.rint(latent + rng.normal(0, noise, n) - 0.2), 1, 5).astype(int)
    return a, b


# ---- the conventions around the libraries (scikit-learn's kappa, the krippendorff package) ---

def test_textbook_example_by_hand() -> None:
    # a = [1, 2, 3], b = [1, 2, 2]. Kappa: sum w*O = 1 (the (3,2) cell), sum w*E = 3 -> 2/3.
    # Interval alpha: n = 6, margins n1=2, n2=3, n3=1; D_o = 2/6; D_e = 2*(6*1 + 2*4 + 3*1)/30
    # = 34/30 -> 1 - (1/3)/(34/30) = 12/17.
    assert quadratic_kappa([1, 2, 3], [1, 2, 2]) == pytest.approx(2 / 3, abs=1e-12)
    assert krippendorff_alpha([1, 2, 3], [1, 2, 2], "interval") == pytest.approx(12 / 17, abs=1e-12)
    assert quadratic_kappa([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]) == pytest.approx(1.0)
    assert krippendorff_alpha([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]) == pytest.approx(1.0)
    # Systematic reversal is worse than chance.
    assert quadratic_kappa([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]) == pytest.approx(-1.0)


def test_no_variation_gives_none_not_nan() -> None:
    assert quadratic_kappa([5, 5, 5], [5, 5, 5]) is None
    assert krippendorff_alpha([5, 5, 5], [5, 5, 5]) is None
    # Constant but different: kappa is defined (0: no better than chance), alpha too.
    assert quadratic_kappa([5, 5, 5], [4, 4, 4]) == pytest.approx(0.0)
    # n = 6, n_4 = n_5 = 3: D_o = 6·1/6 = 1, D_e = 2·3·3·1/30 = 0.6 -> 1 − 1/0.6.
    assert krippendorff_alpha([5, 5, 5], [4, 4, 4], "interval") == pytest.approx(-2 / 3, abs=1e-12)


def test_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="same conversations"):
        quadratic_kappa([1, 2], [1])
    with pytest.raises(ValueError, match="at least one"):
        krippendorff_alpha([], [])
    with pytest.raises(ValueError, match=r"found \[7\]"):
        quadratic_kappa([1, 7], [1, 2])
    with pytest.raises(ValueError, match="level must be"):
        krippendorff_alpha([1, 2], [1, 2], "nominal")


# ---- the two-judge report ------------------------------------------------------------------------

def scores_from(columns: dict[str, list[int]]) -> list[Scores]:
    n = len(next(iter(columns.values())))
    return [Scores(**{c: columns[c][i] for c in CRITERIA}) for i in range(n)]


def test_agreement_report_lists_large_disagreements_by_scenario() -> None:
    rng = np.random.default_rng(7)
    cols_a, cols_b = {}, {}
    for c in CRITERIA:
        cols_a[c], cols_b[c] = (x.tolist() for x in correlated_scores(rng, 30, noise=0.6))
    a, b = scores_from(cols_a), scores_from(cols_b)
    indices = list(range(100, 130))
    report = agreement(a, b, scenario_indices=indices, judge_a="claude", judge_b="gpt-4.1")

    expected = sorted(
        (indices[i], c) for c in CRITERIA for i in range(30) if abs(cols_a[c][i] - cols_b[c][i]) >= 2
    )
    assert expected, "the fixture should contain some disagreements"
    assert [(d.scenario_index, d.criterion) for d in report.disagreements] == sorted(
        expected, key=lambda t: (t[0], CRITERIA.index(t[1])))
    assert all(d.gap >= 2 for d in report.disagreements)
    for row in report.criteria:
        assert row.kappa_quadratic == pytest.approx(
            quadratic_kappa(cols_a[row.criterion], cols_b[row.criterion]), abs=1e-12)
        assert row.exact_agreement == pytest.approx(np.mean(np.equal(cols_a[row.criterion], cols_b[row.criterion])))
        assert row.mean_a == pytest.approx(np.mean(cols_a[row.criterion]))
    loose = agreement(a, b, min_gap=1)
    assert len(loose.disagreements) > len(report.disagreements)
    assert loose.disagreements[0].scenario_index < 30


def test_agreement_rejects_misaligned_inputs() -> None:
    one = [Scores(**dict.fromkeys(CRITERIA, 3))]
    with pytest.raises(ValueError, match="same conversations"):
        agreement(one, one * 2)
    with pytest.raises(ValueError, match="scenario indices"):
        agreement(one, one, scenario_indices=[1, 2])
    with pytest.raises(ValueError, match="min_gap"):
        agreement(one, one, min_gap=0)
