"""The models one procedure's evaluation uses, by role, built once per process."""

from __future__ import annotations

from dataclasses import dataclass, field

from gate.suite import Models
from harness.conditions import model_role
from harness.llm import ChatModel, get_model, get_provider


@dataclass
class RoleModels:
    user: ChatModel
    frontier: ChatModel
    base: ChatModel
    judges: list[ChatModel]
    compiled: dict[str, ChatModel] = field(default_factory=dict)   # by checkpoint (or served) spec

    def for_condition(self, condition: str, compiled_spec: str) -> ChatModel:
        role = model_role(condition)
        if role == "compiled":
            if compiled_spec not in self.compiled:
                # Never cached: a checkpoint or a served model can change behind the same name.
                self.compiled[compiled_spec] = get_model(compiled_spec, cache="off")
            return self.compiled[compiled_spec]
        return self.frontier if role == "frontier" else self.base


def build_models(models: Models, cache_mode: str | None = None) -> RoleModels:
    """The suite's models; network ones with the record/replay `cache_mode` when given."""
    def build(spec: str) -> ChatModel:
        # Local weights and the offline model are never recorded (see `get_model`), so a
        # replay computes their answers again rather than looking for them in the cache.
        if cache_mode and get_provider(spec).cacheable:
            return get_model(spec, cache=cache_mode)
        return get_model(spec)

    return RoleModels(user=build(models.user), frontier=build(models.frontier), base=build(models.base),
                      judges=[build(j) for j in models.judges])
