"""How to compile a procedure: the one typed model of compile settings.

A gate suite's `compile:` section is a `CompileSettings`; `subterra compile` builds one
from its flags; `compile_procedure` takes one. The data-size fields are shared with the
data generator's own config (`compile.datagen.DatagenConfig`), so each is defined once.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator

MAX_N = 100_000      # training scenarios per seed: beyond this a typo, not a plan


class DataSize(BaseModel):
    """How much synthetic data a compile generates, and how much of it is held out."""

    # Written in YAML by hand: `n: true` is not 1, and a number is finite.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    n: StrictInt = Field(default=120, ge=2, le=MAX_N, description="training scenarios per seed")
    seeds: list[StrictInt] = Field(default_factory=lambda: [42], min_length=1)
    eval_fraction: StrictFloat = Field(default=0.1, gt=0, lt=1)

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds listed more than once: {seeds}")
        return seeds


class CompileSettings(DataSize):
    recipe: str = "smollm2-135m"
    # Recipe settings to override, as `subterra compile --set KEY=VALUE` (dotted keys work).
    overrides: dict[str, Any] = Field(default_factory=dict)

    def data_size(self) -> dict[str, Any]:
        """The data-size fields, for `DatagenConfig`."""
        return self.model_dump(include=set(DataSize.model_fields))
