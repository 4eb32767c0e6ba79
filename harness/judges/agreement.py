"""How far two judges agree, and whether the findings survive a change of judge.

Per criterion, two scorers of the same conversations are compared by

- quadratic-weighted Cohen's kappa (categories 1..5; scikit-learn's
  ``cohen_kappa_score(weights="quadratic")``), and
- Krippendorff's alpha, **ordinal** by default (Krippendorff's ordinal metric, where the
  distance between two scores grows with how many observed scores lie between them);
  ``level="interval"`` gives the squared-difference metric instead (the `krippendorff`
  package; two coders, no missing data).

Undefined values: when neither measure has any variation to work with (both judges gave
every conversation the same single score), expected disagreement is zero and the ratio
is 0/0; we return ``None`` there ("no information"), never NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from harness.judges.rubric import CRITERIA, Criterion, Scores

__all__ = [
    "AgreementReport",
    "CriterionAgreement",
    "Disagreement",
    "agreement",
    "krippendorff_alpha",
    "quadratic_kappa",
]

LEVELS = np.arange(1, 6)


def _as_int_array(values: Sequence[int], name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name}: expected a flat sequence of integer scores, found {arr.dtype} shape {arr.shape}")
    return arr.astype(np.int64)


def _pair(a: Sequence[int], b: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    x, y = _as_int_array(a, "scores A"), _as_int_array(b, "scores B")
    if x.size != y.size:
        raise ValueError(f"expected both judges to score the same conversations, found {x.size} vs {y.size} scores")
    if x.size == 0:
        raise ValueError("expected at least one scored conversation, found none")
    return x, y


def quadratic_kappa(a: Sequence[int], b: Sequence[int], labels: Sequence[int] = tuple(LEVELS)) -> float | None:
    """Cohen's kappa with quadratic weights over the given ordered `labels` (scikit-learn's
    ``cohen_kappa_score``); None where it is undefined (both judges constant and equal)."""
    import warnings

    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.metrics import cohen_kappa_score

    x, y = _pair(a, b)
    unknown = sorted((set(x.tolist()) | set(y.tolist())) - {int(v) for v in labels})
    if unknown:
        raise ValueError(f"expected scores among {list(labels)}, found {unknown}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)   # undefined is None below
        kappa = cohen_kappa_score(x, y, labels=list(labels), weights="quadratic", replace_undefined_by=np.nan)
    return None if np.isnan(kappa) else float(kappa)


def krippendorff_alpha(
    a: Sequence[int], b: Sequence[int], level: Literal["ordinal", "interval"] = "ordinal"
) -> float | None:
    """Krippendorff's alpha (the `krippendorff` package) for two coders who both scored
    every unit. None where it is undefined (one value used throughout)."""
    import krippendorff

    x, y = _pair(a, b)
    if level not in ("ordinal", "interval"):
        raise ValueError(f"level must be 'ordinal' or 'interval', found {level!r}")
    if np.unique(np.concatenate([x, y])).size < 2:
        return None
    alpha = krippendorff.alpha(reliability_data=np.vstack([x, y]).astype(float), level_of_measurement=level)
    return None if np.isnan(alpha) else float(alpha)


# ---- two judges, five criteria -----------------------------------------------------------

class Disagreement(BaseModel):
    model_config = ConfigDict(frozen=True)

    scenario_index: int
    criterion: Criterion
    score_a: int
    score_b: int

    @property
    def gap(self) -> int:
        return abs(self.score_a - self.score_b)


class CriterionAgreement(BaseModel):
    model_config = ConfigDict(frozen=True)

    criterion: Criterion
    n: int
    kappa_quadratic: float | None
    alpha_ordinal: float | None
    alpha_interval: float | None
    exact_agreement: float          # share of conversations with identical scores
    mean_a: float
    mean_b: float


class AgreementReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    judge_a: str
    judge_b: str
    min_gap: int
    criteria: list[CriterionAgreement]
    disagreements: list[Disagreement]       # |score A − score B| >= min_gap


def agreement(
    scores_a: Sequence[Scores],
    scores_b: Sequence[Scores],
    *,
    scenario_indices: Sequence[int] | None = None,
    judge_a: str = "A",
    judge_b: str = "B",
    min_gap: int = 2,
) -> AgreementReport:
    """Agreement between two judges who scored the same conversations, position by position.

    `scenario_indices[i]` names conversation i in the disagreement list (default: i).
    """
    if len(scores_a) != len(scores_b):
        raise ValueError(
            f"expected both judges to score the same conversations, found {len(scores_a)} vs {len(scores_b)}"
        )
    indices = list(range(len(scores_a))) if scenario_indices is None else list(scenario_indices)
    if len(indices) != len(scores_a):
        raise ValueError(f"expected {len(scores_a)} scenario indices, found {len(indices)}")
    if min_gap < 1:
        raise ValueError(f"min_gap must be >= 1, found {min_gap}")
    rows, disagreements = [], []
    for criterion in CRITERIA:
        a = [s.get(criterion) for s in scores_a]
        b = [s.get(criterion) for s in scores_b]
        rows.append(
            CriterionAgreement(
                criterion=criterion,
                n=len(a),
                kappa_quadratic=quadratic_kappa(a, b),
                alpha_ordinal=krippendorff_alpha(a, b, "ordinal"),
                alpha_interval=krippendorff_alpha(a, b, "interval"),
                exact_agreement=float(np.mean(np.equal(a, b))),
                mean_a=float(np.mean(a)),
                mean_b=float(np.mean(b)),
            )
        )
        disagreements += [
            Disagreement(scenario_index=i, criterion=criterion, score_a=x, score_b=y)
            for i, x, y in zip(indices, a, b, strict=True)
            if abs(x - y) >= min_gap
        ]
    disagreements.sort(key=lambda d: (d.scenario_index, CRITERIA.index(d.criterion)))
    return AgreementReport(judge_a=judge_a, judge_b=judge_b, min_gap=min_gap, criteria=rows,
                           disagreements=disagreements)
