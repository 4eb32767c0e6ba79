"""The four evaluated conditions (paper §3), one module each, one interface (`base.py`).

    condition = build_condition("orchestrated", procedure, get_model("local:smollm2-135m"))
    session = condition.session(scenario)
    reply = await session.reply(turns)      # AgentReply: text, node, terminal, usage
"""

from __future__ import annotations

from harness.llm.base import ChatModel
from harness.procedure import Procedure

from .base import AgentReply, Condition, ConditionSession
from .in_context import InContextCondition
from .langgraph_flow import LangGraphCondition
from .orchestrated import OrchestratedCondition
from .subterranean import SubterraneanCondition

_CLASSES: dict[str, type[Condition]] = {c.name: c for c in (
    SubterraneanCondition, OrchestratedCondition, LangGraphCondition, InContextCondition)}

# Which model each condition runs on: the compiled checkpoint, the same base model before
# compiling, or the frontier model.
MODEL_ROLE = {"subterranean": "compiled", "orchestrated": "base", "langgraph": "frontier",
              "in_context": "frontier"}


def build_condition(name: str, procedure: Procedure, model: ChatModel) -> Condition:
    if name not in _CLASSES:
        raise ValueError(f"unknown condition {name!r}; expected one of {', '.join(_CLASSES)}")
    return _CLASSES[name](procedure, model)


__all__ = ["MODEL_ROLE", "AgentReply", "Condition", "ConditionSession", "build_condition"]
