"""The four evaluated conditions (paper §3), one module each, one interface (`base.py`).

    condition = build_condition("orchestrated", procedure, get_model("local:smollm2-135m"))
    session = condition.session(scenario)
    reply = await session.reply(turns)      # AgentReply: text, node, terminal, usage

Each condition's facts (model role, reuse after an edit, default model, whether it is the
report's reference) are attributes of its class; `condition_class` imports only the
module of the condition asked for, so reading them loads no SDK.
"""

from __future__ import annotations

import importlib
from typing import Literal, get_args

from harness.llm.base import ChatModel
from harness.procedure import Procedure

from .base import AgentReply, Condition, ConditionSession, ModelRole

ConditionName = Literal["subterranean", "orchestrated", "langgraph", "in_context"]
CONDITIONS: tuple[ConditionName, ...] = get_args(ConditionName)

# name -> "module:class", imported on first use
_REGISTRY: dict[str, str] = {
    "subterranean": "harness.conditions.subterranean:SubterraneanCondition",
    "orchestrated": "harness.conditions.orchestrated:OrchestratedCondition",
    "langgraph": "harness.conditions.langgraph_flow:LangGraphCondition",
    "in_context": "harness.conditions.in_context:InContextCondition",
}


def condition_class(name: str) -> type[Condition]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown condition {name!r}; expected one of {', '.join(CONDITIONS)}")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


def model_role(name: str) -> ModelRole:
    return condition_class(name).model_role


def reference_condition() -> str:
    """The condition the report measures the others against (the compiled model)."""
    return next(name for name in CONDITIONS if condition_class(name).is_reference)


def build_condition(name: str, procedure: Procedure, model: ChatModel) -> Condition:
    return condition_class(name)(procedure, model)


__all__ = ["CONDITIONS", "AgentReply", "Condition", "ConditionName", "ConditionSession", "ModelRole",
           "build_condition", "condition_class", "model_role", "reference_condition"]
