"""Verdicts that say what the evidence says: before vs after on paired scores.

Δ = after − before, paired by (scenario, trial), with its 95 % bootstrap CI [low, high]
clustered by scenario (trials of one scenario are not independent; `harness.reliability`),
and a margin m ≤ 0 (how far a mean may drop and still count as no worse). In this order:

    improved       low > 0              the edit made it better
    non-inferior   low > m              no worse than the margin allows
    regressed      high < 0             a drop is shown (and non-inferiority is not)
    inconclusive   otherwise            the CI spans 0 and reaches below m: too few scenarios

Why "regressed" is "the CI lies wholly below zero" and not "wholly below the margin": a
gate exists to stop a worse procedure. A drop the data shows for certain (high < 0) whose
size may exceed the margin (low ≤ m) is a regression a team wants to hear about; waiting
until the whole CI is below m would let a real drop of −0.6 with CI [−1.1, −0.1] pass as
merely inconclusive at m = −0.25. And a real drop that stays inside the margin (m < low,
high < 0) is what the margin tolerates by definition: non-inferior. What the rule never
does is call an unchanged mean (Δ = 0, a CI around zero) a regression: with too few
scenarios it is *inconclusive*, with the number of scenarios that would decide it if the
variance stayed as it is (`harness.reliability.scenarios_to_decide`).

What an inconclusive verdict does to the gate is the suite's `regression.inconclusive`:
`pass` (default: the test passes and the verdict is listed loudly in the report, in
changes.md and as a pytest warning) or `fail`.

Pure: paired scores in, an `Evidence` out. The same words (`VERDICT_LABELS`, `RULE`) are
used by the report, changes.md and the failing test's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from harness.reliability import scenarios_to_decide
from harness.stats import (
    CI,
    N_RESAMPLES,
    Seed,
    cluster_bootstrap_ci,
    cluster_means,
    wilcoxon_signed_rank,
)

__all__ = ["RULE", "VERDICT_LABELS", "Evidence", "InconclusivePolicy", "Verdict", "decide", "gate_passes",
           "paired_evidence"]

Verdict = Literal["improved", "non-inferior", "inconclusive", "regressed"]
InconclusivePolicy = Literal["pass", "fail"]

VERDICT_LABELS: dict[str, str] = {"improved": "✅ improved", "non-inferior": "✅ non-inferior",
                                  "inconclusive": "⚠️ inconclusive", "regressed": "❌ regressed"}
RULE = ("improved when the CI's lower bound is above 0, non-inferior when it is above the margin, "
        "regressed when the whole CI is below 0 (a drop is shown), otherwise inconclusive")

# (scenario index, trial) → score
Paired = Mapping[tuple[int, int], float]


def decide(low: float, high: float, margin: float) -> Verdict:
    """The verdict of a CI [low, high] of Δ = after − before against `margin` (see module doc)."""
    if low > high:
        raise ValueError(f"a CI's low end is at most its high end, found [{low}, {high}]")
    if low > 0:
        return "improved"
    if low > margin:
        return "non-inferior"
    return "regressed" if high < 0 else "inconclusive"


def gate_passes(verdict: Verdict, inconclusive: InconclusivePolicy = "pass") -> bool:
    return verdict != "regressed" and not (verdict == "inconclusive" and inconclusive == "fail")


class Evidence(BaseModel):
    """Before vs after on the pairs both have, and what they show."""

    model_config = ConfigDict(frozen=True)

    scenarios: int                      # paired scenarios (the CI's clusters)
    pairs: int                          # paired (scenario, trial) conversations
    before: float | None                # means over the pairs
    after: float | None
    delta: float | None
    low: float | None                   # 95 % CI of Δ, clustered by scenario
    high: float | None
    p_value: float | None               # Wilcoxon signed-rank on per-scenario mean differences
    margin: float
    verdict: Verdict
    # Inconclusive: the scenarios (at the same trials each) that would decide it at this variance;
    # None when the estimate sits where no number of scenarios would (or it is decided).
    needed: int | None = None

    @property
    def trials(self) -> float:
        return self.pairs / self.scenarios if self.scenarios else 0.0

    def evidence_text(self) -> str:
        """`4.67 → 4.67, Δ +0.00, 95 % CI [−0.50, +0.50] over 6 paired scenarios; margin −0.25`
        (and, inconclusive, how many scenarios would decide it)."""
        over = f"{self.scenarios} paired scenario{'' if self.scenarios == 1 else 's'}"
        if self.pairs > self.scenarios:
            over += f" ({self.pairs} paired trials)"
        if self.delta is None:
            return f"only {over}, need at least 2 to compare; margin {num(self.margin)}"
        text = (f"{self.before:.2f} → {self.after:.2f}, Δ {num(self.delta, sign=True)}, "
                f"95 % CI [{num(self.low, sign=True)}, {num(self.high, sign=True)}] over {over}; "
                f"margin {num(self.margin)}")
        if self.verdict == "inconclusive":
            text += (f"; about {self.needed} scenarios would decide it at this variance" if self.needed
                     else "; more scenarios would not decide it at this estimate")
        return text


def num(x: float | None, *, sign: bool = False) -> str:
    """Two decimals with a true minus sign, as the messages print them."""
    if x is None:
        return "—"
    return (f"{x:+.2f}" if sign else f"{x:.2f}").replace("-", "−")


def _needed(ci: CI, clusters: int, margin: float) -> int | None:
    ways = [n for n in (scenarios_to_decide(ci, clusters, margin, above=True),     # non-inferior
                        scenarios_to_decide(ci, clusters, 0.0, above=False))       # regressed
            if n is not None]
    return min(ways) if ways else None


def paired_evidence(before: Paired, after: Paired, *, margin: float, seed: Seed = 0,
                    n_resamples: int = N_RESAMPLES) -> Evidence:
    """Δ on the (scenario, trial) pairs both sides have, its clustered CI and the verdict."""
    if margin > 0:
        raise ValueError(f"the margin is how far a mean may drop, so it must be <= 0; got {margin}")
    keys = sorted(set(before) & set(after))
    scenarios = len({s for s, _ in keys})
    if scenarios < 2:
        return Evidence(scenarios=scenarios, pairs=len(keys), before=None, after=None, delta=None, low=None,
                        high=None, p_value=None, margin=margin, verdict="inconclusive")
    b = np.array([before[k] for k in keys], dtype=float)
    a = np.array([after[k] for k in keys], dtype=float)
    ci = cluster_bootstrap_ci(a - b, [s for s, _ in keys], seed=seed, n_resamples=n_resamples)
    verdict = decide(ci.low, ci.high, margin)
    per_scenario_b = cluster_means(dict(zip(keys, b, strict=True)))
    per_scenario_a = cluster_means(dict(zip(keys, a, strict=True)))
    p = wilcoxon_signed_rank(list(per_scenario_a.values()), list(per_scenario_b.values())).p_value
    return Evidence(scenarios=scenarios, pairs=len(keys), before=float(b.mean()), after=float(a.mean()),
                    delta=ci.estimate, low=ci.low, high=ci.high, p_value=p, margin=margin, verdict=verdict,
                    needed=_needed(ci, scenarios, margin) if verdict == "inconclusive" else None)
