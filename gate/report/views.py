"""What the report shows, as plain pydantic models (`report.json` is their dump).

Determinism: everything measured in seconds is kept out of the serialised body: each
`ProcedureReport.timings` is excluded from dumps and gathered under the single top-level
`ReportData.timings` key, so ``report.json`` minus ``timings`` is byte-identical for the
same inputs, however the run was scheduled (serial or xdist).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gate.against.comparison import EditComparison
from gate.report.reliability import ConditionReliability
from harness.cost import ConditionCost, Hosting
from harness.incidents import Handling
from harness.judges.actions import ActionSummary
from harness.judges.agreement import AgreementReport
from harness.judges.rubric import Scores
from harness.llm.base import Usage
from harness.procedure import Procedure
from harness.stats import CI, Comparison, FailureRate

__all__ = [
    "ConditionCostView",
    "ConditionSummary",
    "EdgeTrace",
    "JudgeAgreementView",
    "JudgeView",
    "NodeTrace",
    "ProcedureReport",
    "ReportData",
    "TraceCoverage",
    "TranscriptView",
    "TurnView",
    "is_offline_model",
    "json_ready",
]

FLOAT_DIGITS = 6   # floats in report.json are rounded so tiny platform noise cannot leak in


def is_offline_model(model_id: str) -> bool:
    """The offline backend's ids all contain "offline" (e.g. "offline", "offline:judge")."""
    return "offline" in model_id.lower()


# ---- models -------------------------------------------------------------------------------

class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ConditionSummary(_Frozen):
    """One condition's column: quality means with CIs and descriptive statistics."""

    condition: str
    n: int                                   # conversations
    n_scored: int                            # conversations the primary judge scored
    judge_failures: int                      # conversations no judge could score
    means: dict[str, CI]                     # criterion -> mean [95 % bootstrap CI]
    percent_of_reference: dict[str, float]   # criterion -> 100 · mean / reference mean
    offline_means: dict[str, float]          # trace-derived (offline) scores, always present
    failure: FailureRate | None              # task success <= 3; None when nothing was scored
    mean_turns: float
    mean_agent_turns: float
    mean_words: float
    one_question_share: float
    end_reasons: dict[str, int]
    valid_trace_share: float                 # conversations whose decoded walk is on-chart
    trials: int = 1                          # trials per scenario (the most any scenario had)
    pass_k: dict[int, float] = Field(default_factory=dict)   # k -> pass^k, k = 1 … trials
    simulator_faults: int = 0                # conversations a simulated-user fault spoiled (counted apart)


class ConditionCostView(_Frozen):
    condition: str
    agent_model: str
    hosting: Hosting
    cost: ConditionCost | None               # None when no price is known for the model
    ratio_to_reference: float | None         # this cost / the reference's (None: undefined)
    user_input_tokens_per_conversation: float   # simulator tokens, not a cost of the agent
    user_output_tokens_per_conversation: float
    note: str = ""
    # Set when the agent's tokens were counted offline and are priced at this model's list
    # price instead: what the conversations would have cost had it spoken them.
    projected_at: str | None = None


class NodeTrace(_Frozen):
    node: str
    visits: int                  # turns decoded to this node
    passes: int                  # of those, turns entered by an on-chart step
    pass_rate: float | None      # passes / visits; None when never visited
    coverage: float              # share of conversations that visited the node


class EdgeTrace(_Frozen):
    source: str
    target: str
    traversals: int              # on-chart steps along this edge
    conversations: int           # conversations that took it at least once
    pass_rate: float | None      # of those, share whose whole trace was valid
    coverage: float              # share of all conversations that took it


class TraceCoverage(_Frozen):
    """Trace-judge view of one condition on the flowchart.

    Node pass = the turn was reached by a flowchart edge (or is the opening turn at the
    start node); edge pass = the conversation that took the edge stayed on-chart throughout.
    """

    condition: str
    conversations: int
    nodes: list[NodeTrace]       # every node of the procedure, in file order
    edges: list[EdgeTrace]       # every edge of the procedure, in file order
    off_chart: dict[str, int]    # "from->to" steps with no flowchart edge, with counts


class JudgeView(_Frozen):
    judge: str
    model: str = ""              # the model that answered for it
    offline: bool
    scores: Scores | None
    failure: str | None = None


class TurnView(_Frozen):
    speaker: str
    text: str
    node: str | None             # the trace judge's decoded node (the label, if decoding is missing)
    on_chart: bool | None        # reached by a flowchart edge; None when unknown


class TranscriptView(_Frozen):
    condition: str
    scenario_index: int
    trial: int = 0
    anchor: str = ""                         # the element id the report links to
    simulator_faults: list[str] = Field(default_factory=list)   # "kind: detail"
    end_reason: str
    terminal: str | None
    error: str | None
    agent_model: str
    user_model: str
    turns: list[TurnView]
    scores: Scores | None        # the primary judge's
    judges: list[JudgeView]
    offline_scores: dict[str, int]
    trace_valid: bool
    off_chart_steps: list[tuple[int, str, str]]
    skipped_nodes: list[str]
    trace_terminal: str | None
    expected_terminal: str | None
    terminal_fits: bool | None
    repeated_questions: list[int]
    agent_usage: Usage
    routing_usage: Usage
    user_usage: Usage


class JudgeAgreementView(_Frozen):
    report: AgreementReport
    # position in the agreement's disagreement list -> (condition, scenario index)
    conversations: list[tuple[str, int]]


class ProcedureReport(_Frozen):
    procedure: Procedure
    reference: str
    conditions: list[str]                    # reference first, then the others sorted
    offline: bool
    offline_models: list[str]
    judges: list[str]                        # in order of precedence, primary first
    seed: int
    n_resamples: int
    summaries: list[ConditionSummary]
    comparisons: list[Comparison]            # reference (A) vs each other condition (B)
    costs: list[ConditionCostView]
    agreement: list[JudgeAgreementView]      # primary judge vs each other scoring judge
    trace: list[TraceCoverage]
    transcripts: list[TranscriptView]
    compile_info: dict[str, Any] = Field(default_factory=dict)
    # condition -> what its models did that the run absorbed (per role and judge)
    handling: dict[str, Handling] = Field(default_factory=dict)
    # Per condition, what the agent did to the backend (procedures with tools; judge-free).
    actions: list[ActionSummary] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    changes: EditComparison | None = None    # before vs after, with `--against REF`
    # per condition: pass^k (overall, per path, per node), flaky scenarios, simulated-user faults
    reliability: list[ConditionReliability] = Field(default_factory=list)
    # Wall-clock figures; excluded from dumps, gathered into ReportData.timings instead.
    timings: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @property
    def name(self) -> str:
        return self.procedure.name

    def summary(self, condition: str) -> ConditionSummary:
        return next(s for s in self.summaries if s.condition == condition)

    def comparison(self, condition: str) -> Comparison:
        return next(c for c in self.comparisons if c.label_b == condition)


class ReportData(_Frozen):
    run_name: str
    offline: bool
    procedures: list[ProcedureReport]
    models: dict[str, str]                   # role -> model id
    timings: dict[str, Any] = Field(default_factory=dict)

    def json_data(self) -> dict[str, Any]:
        """The body of report.json: plain JSON types, floats rounded."""
        return json_ready(self.model_dump(mode="json"))


def json_ready(value: Any) -> Any:
    """Round floats recursively (JSON has no tuples; pydantic's json mode already made lists)."""
    if isinstance(value, float):
        return round(value, FLOAT_DIGITS) + 0.0   # + 0.0 turns -0.0 into 0.0
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value
