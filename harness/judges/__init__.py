"""Judges: the rubric every judge scores against, and how far two judges agree.

The trace judge (`harness.judges.trace`) and the offline scores built on it
(`harness.judges.offline`) are imported from their modules: they load scikit-learn and are
not needed to read or parse rubric scores.
"""

from harness.judges.agreement import (
    AgreementReport,
    CriterionAgreement,
    Disagreement,
    RobustnessRow,
    RobustnessTable,
    agreement,
    krippendorff_alpha,
    quadratic_kappa,
    robustness_table,
)
from harness.judges.rubric import (
    CRITERIA,
    GRACEFUL_CAP_WITHOUT_CHALLENGE,
    RUBRIC,
    Criterion,
    CriterionSpec,
    JudgeOutputError,
    JudgePrompt,
    Scores,
    apply_challenge_cap,
    judge_output_schema,
    parse_judge_output,
    render_judge_prompt,
)

__all__ = [
    "CRITERIA",
    "GRACEFUL_CAP_WITHOUT_CHALLENGE",
    "RUBRIC",
    "AgreementReport",
    "Criterion",
    "CriterionAgreement",
    "CriterionSpec",
    "Disagreement",
    "JudgeOutputError",
    "JudgePrompt",
    "RobustnessRow",
    "RobustnessTable",
    "Scores",
    "agreement",
    "apply_challenge_cap",
    "judge_output_schema",
    "krippendorff_alpha",
    "parse_judge_output",
    "quadratic_kappa",
    "render_judge_prompt",
    "robustness_table",
]
