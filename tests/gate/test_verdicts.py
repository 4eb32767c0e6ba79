"""Verdicts on constructed paired scores: improved, non-inferior, regressed, inconclusive."""

from __future__ import annotations

import pytest

from gate.verdicts import VERDICT_LABELS, decide, gate_passes, paired_evidence


def _pairs(before: list[float], after: list[float], trials: int = 1) -> tuple[dict, dict]:
    keys = [(i, t) for i in range(len(before) // trials) for t in range(trials)]
    return dict(zip(keys, before, strict=True)), dict(zip(keys, after, strict=True))


def test_the_rule_in_order() -> None:
    assert decide(0.1, 0.9, -0.25) == "improved"
    assert decide(-0.2, 0.4, -0.25) == "non-inferior"
    assert decide(-0.2, -0.05, -0.25) == "non-inferior"       # a real drop inside the margin is tolerated
    assert decide(-1.1, -0.1, -0.25) == "regressed"           # a drop is shown and may pass the margin
    assert decide(-0.5, 0.5, -0.25) == "inconclusive"         # Δ 0 on too few scenarios
    assert decide(-0.25, 0.2, -0.25) == "inconclusive"
    with pytest.raises(ValueError, match="at most its high end"):
        decide(1, 0, -0.25)


def test_a_clear_gain_is_improved() -> None:
    e = paired_evidence(*_pairs([3, 3, 3, 3, 4, 3, 3, 3], [5, 5, 4, 5, 5, 5, 4, 5]), margin=-0.25)
    assert e.verdict == "improved" and e.low > 0 and e.needed is None


def test_no_change_with_little_spread_is_non_inferior() -> None:
    before = [4] * 12
    after = [4] * 11 + [5]
    e = paired_evidence(*_pairs(before, after), margin=-0.25)
    assert e.verdict == "non-inferior" and e.low > -0.25


def test_a_clear_drop_is_regressed() -> None:
    e = paired_evidence(*_pairs([5, 5, 5, 4, 5, 5, 5, 5, 4, 5, 5, 5], [4, 4, 4, 4, 5, 4, 4, 4, 3, 4, 4, 5]),
                        margin=-0.25)
    assert e.verdict == "regressed" and e.high < 0 and not gate_passes(e.verdict)


def test_delta_zero_on_six_noisy_scenarios_is_inconclusive_with_the_scenarios_that_would_decide() -> None:
    e = paired_evidence(*_pairs([5, 4, 5, 5, 4, 5], [4, 5, 5, 4, 5, 5]), margin=-0.25)
    assert e.delta == 0 and e.verdict == "inconclusive"
    assert e.needed is not None and e.needed > 6
    assert gate_passes(e.verdict) and not gate_passes(e.verdict, "fail")
    assert e.evidence_text().endswith(f"over 6 paired scenarios; margin −0.25; about {e.needed} scenarios would "
                                      "decide it at this variance")


def test_the_message_signs_the_ci_as_the_report_and_changes_md_do() -> None:
    # Seen on travel (trials 3): the pytest warning said "CI [−0.33, 0.00]" where changes.md
    # and the HTML table said "[−0.33, +0.00]" (and the README's example "[−0.50, +0.50]").
    e = paired_evidence(*_pairs([5, 4, 5, 5, 4, 5], [4, 5, 5, 4, 5, 5]), margin=-0.25)
    assert e.low < 0 < e.high
    assert f"Δ +0.00, 95 % CI [−{abs(e.low):.2f}, +{e.high:.2f}] over 6 paired scenarios" in e.evidence_text()


def test_trials_pair_by_scenario_and_trial_and_cluster_the_ci() -> None:
    # The same six scenarios, each run three times with the same scores: as uncertain as one trial each.
    before = [s for s in [5, 4, 5, 5, 4, 5] for _ in range(3)]
    after = [s for s in [4, 5, 5, 4, 5, 5] for _ in range(3)]
    e = paired_evidence(*_pairs(before, after, trials=3), margin=-0.25)
    one = paired_evidence(*_pairs([5, 4, 5, 5, 4, 5], [4, 5, 5, 4, 5, 5]), margin=-0.25)
    assert (e.scenarios, e.pairs) == (6, 18) and e.verdict == "inconclusive"
    assert e.low == pytest.approx(one.low) and e.high == pytest.approx(one.high)
    assert "over 6 paired scenarios (18 paired trials)" in e.evidence_text()


def test_too_few_scenarios_are_inconclusive_and_every_verdict_has_a_label() -> None:
    e = paired_evidence({(0, 0): 4, (0, 1): 5}, {(0, 0): 1, (0, 1): 1}, margin=-0.25)
    assert e.verdict == "inconclusive" and e.delta is None and e.scenarios == 1
    assert set(VERDICT_LABELS) == {"improved", "non-inferior", "inconclusive", "regressed"}
    with pytest.raises(ValueError, match="<= 0"):
        paired_evidence({}, {}, margin=0.1)
