"""How to compile a procedure: the one typed model of compile settings.

A gate suite's `compile:` section is a `CompileSettings`; `subterra compile` builds one
from its flags; `compile_procedure` takes one. The data-size fields are shared with the
data generator's own config (`compile.datagen.DatagenConfig`), so each is defined once.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DataSize(BaseModel):
    """How much synthetic data a compile generates, and how much of it is held out."""

    model_config = ConfigDict(extra="forbid")

    n: int = Field(default=120, ge=2, description="training scenarios per seed")
    seeds: list[int] = Field(default_factory=lambda: [42])
    eval_fraction: float = Field(default=0.1, gt=0, lt=1)


class CompileSettings(DataSize):
    recipe: str = "smollm2-135m"
    # Recipe settings to override, as `subterra compile --set KEY=VALUE` (dotted keys work).
    overrides: dict[str, Any] = Field(default_factory=dict)

    def data_size(self) -> dict[str, Any]:
        """The data-size fields, for `DatagenConfig`."""
        return self.model_dump(include=set(DataSize.model_fields))
