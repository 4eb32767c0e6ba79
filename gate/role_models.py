"""The models one procedure's evaluation uses, by role, built once per process."""

from __future__ import annotations

from dataclasses import dataclass, field

from gate.suite import Models
from harness.conditions import model_role
from harness.llm import ChatModel, get_model


@dataclass
class RoleModels:
    user: ChatModel
    frontier: ChatModel
    base: ChatModel
    judges: list[ChatModel]
    compiled: dict[str, ChatModel] = field(default_factory=dict)   # by checkpoint spec

    def for_condition(self, condition: str, compiled_spec: str) -> ChatModel:
        role = model_role(condition)
        if role == "compiled":
            if compiled_spec not in self.compiled:
                self.compiled[compiled_spec] = get_model(compiled_spec)
            return self.compiled[compiled_spec]
        return self.frontier if role == "frontier" else self.base


def build_models(models: Models, cache_mode: str | None = None) -> RoleModels:
    """The suite's models; network ones with the record/replay `cache_mode` when given."""
    kw = {"cache": cache_mode} if cache_mode else {}
    return RoleModels(user=get_model(models.user, **kw), frontier=get_model(models.frontier, **kw),
                      base=get_model(models.base, **kw), judges=[get_model(j, **kw) for j in models.judges])
