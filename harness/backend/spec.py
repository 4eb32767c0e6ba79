"""What a scenario set declares about its backend: tables of records and how each tool behaves.

```yaml
backend:
  tables:                       # records are templates over the scenario's variables
    cards: [{card_last4: "{{ card_last4 }}", holder: "{{ full_name }}"}]
    disputes: []
  tools:
    verify_identity:            # look a record up; fail when a field does not match
      lookup: cards
      match: {card_last4: card_last4}      # record field: argument
      check: {holder: full_name}
      results: {found: verified, missing: not_verified, mismatch: not_verified}
    file_dispute:               # create a record
      create: disputes
      fields: {card_last4: card_last4, amount: amount}
      results: {created: filed}
    eligibility:                # real logic: your own function
      python: my_team.tools:eligibility   # (state, arguments) -> {"result": ..., ...}
      arrange: my_team.tools:arrange_eligibility   # optional (state, arguments, result) -> None
```

Each behaviour has *outcomes* (lookup: found / missing / mismatch; create: created /
duplicate; update: updated / missing / mismatch); `results` maps them to the procedure's
tool results (default: an outcome is the result of the same name).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.procedure.spec import Identifier

Record = dict[str, Any]
State = dict[str, list[Record]]

KINDS = ("lookup", "create", "update", "python")


class ToolBehaviour(BaseModel):
    """How one tool answers: exactly one of lookup / create / update / python."""

    model_config = ConfigDict(extra="forbid")

    lookup: Identifier | None = Field(default=None, description="the table searched (outcomes found, missing, "
                                      "and mismatch with `check`)")
    create: Identifier | None = Field(default=None, description="the table a record is added to (outcomes "
                                      "created, and duplicate with `unique`)")
    update: Identifier | None = Field(default=None, description="the table whose matching record gets `set` "
                                      "(outcomes updated, missing, and mismatch with `check`)")
    python: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
                               description="module:function(state, arguments) -> {'result': ..., ...}")
    arrange: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
                                description="module:function(state, arguments, result) -> None: sets a "
                                "scenario's state up so the python tool answers `result`")
    # record field -> argument name (lookup, update: which record; create: the new record's fields)
    match: dict[Identifier, Identifier] = Field(default_factory=dict, description="record field: argument "
                                                "(lookup, update: which record)")
    check: dict[Identifier, Identifier] = Field(default_factory=dict, description="record field: argument; "
                                                "the outcome is mismatch when these differ")
    fields: dict[Identifier, Identifier] = Field(default_factory=dict, description="create: record field: argument")
    set: dict[Identifier, Any] = Field(default_factory=dict, description="update: record field: literal value")
    unique: list[Identifier] = Field(default_factory=list, description="create: record fields; the outcome is "
                                     "duplicate when a record with the same values exists")
    returns: list[Identifier] | None = Field(default=None, description="lookup: fields of the found record put "
                                             "in the reply (default all)")
    results: dict[Identifier, Identifier] = Field(default_factory=dict, description="outcome: the procedure "
                                                  "tool's result (an unmapped outcome is the result of its name)")
    timeout_s: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _one_kind(self) -> ToolBehaviour:
        given = [k for k in KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a tool's behaviour is exactly one of {', '.join(KINDS)}; found "
                             f"{', '.join(given) or 'none'}")
        if self.kind in ("lookup", "update") and not self.match:
            raise ValueError(f"`{self.kind}` needs `match` (record field: argument) to find its record")
        bad = sorted(set(self.results) - set(self.outcomes()))
        if bad and self.kind != "python":
            raise ValueError(f"`results` maps outcome '{bad[0]}', which a {self.kind} never has "
                             f"(outcomes: {', '.join(self.outcomes())})")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)

    @property
    def table(self) -> str | None:
        return self.lookup or self.create or self.update

    def outcomes(self) -> list[str]:
        """What this behaviour can come to, before `results` names it for the procedure."""
        if self.kind == "lookup":
            return ["found", "missing"] + (["mismatch"] if self.check else [])
        if self.kind == "update":
            return ["updated", "missing"] + (["mismatch"] if self.check else [])
        if self.kind == "create":
            return ["created"] + (["duplicate"] if self.unique else [])
        return list(self.results)       # python: whatever its results mapping names

    def result_of(self, outcome: str) -> str:
        return self.results.get(outcome, outcome)

    def possible_results(self) -> set[str] | None:
        """The tool results this behaviour can give (None: a python tool, any)."""
        return None if self.kind == "python" else {self.result_of(o) for o in self.outcomes()}

    def arguments(self) -> set[str]:
        """The argument names this behaviour reads."""
        return set(self.match.values()) | set(self.check.values()) | set(self.fields.values())


class BackendSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tables: dict[Identifier, list[dict[Identifier, Any]]] = Field(default_factory=dict)
    tools: dict[Identifier, ToolBehaviour] = Field(default_factory=dict)


def load_callable(ref: str) -> Callable[..., Any]:
    """`package.module:function` imported; raises ImportError / AttributeError with the reference."""
    module_name, _, attr = ref.partition(":")
    module = importlib.import_module(module_name)
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise AttributeError(f"'{ref}': module '{module_name}' has no function '{attr}'")
    return fn
