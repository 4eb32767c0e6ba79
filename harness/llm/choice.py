"""Which model plays a role, chosen by the environment: `"anthropic:claude-sonnet-4-5 | offline"`.

A spec with fallbacks lists alternatives separated by `|`; the first whose API key is set in
the environment is chosen (providers without a key, such as `offline` or `local:…`, are
always available). So one suite gates on the real models where the keys are set (CI with
its secrets) and on the offline stand-in elsewhere, and says which it got.

`missing_requirement(spec)` names what a single spec needs and lacks (the key variable), so
that a run can stop before it starts instead of deep inside it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .registry import parse_spec

__all__ = ["KEY_VARIABLES", "Choice", "choose", "missing_requirement"]

# Provider -> the environment variable its official SDK reads the API key from.
KEY_VARIABLES = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}


def missing_requirement(spec: str) -> str | None:
    """What `spec` needs and this machine lacks, as a phrase ("ANTHROPIC_API_KEY is not set",
    "its weights are not on disk"); None when nothing is missing."""
    provider, rest = parse_spec(spec)
    variable = KEY_VARIABLES.get(provider)
    if variable and not os.environ.get(variable, "").strip():
        return f"{variable} is not set"
    if provider == "local":
        from .weights import resolve_source

        try:
            resolve_source(rest)
        except FileNotFoundError:
            return "its weights are not on disk"
    return None


@dataclass(frozen=True)
class Choice:
    spec: str                 # the model that plays the role
    asked: str                # what the suite wrote, fallbacks included
    passed_over: tuple[tuple[str, str], ...] = ()   # (spec, what it lacks) tried before it

    @property
    def note(self) -> str:
        """'offline (not anthropic:claude-sonnet-4-5: ANTHROPIC_API_KEY is not set)', or the spec."""
        if not self.passed_over:
            return self.spec
        why = "; ".join(f"not {spec}: {need}" for spec, need in self.passed_over)
        return f"{self.spec} ({why})"


def alternatives(value: str) -> list[str]:
    """The specs of `value`, in order; each is checked by `parse_spec`."""
    specs = [part.strip() for part in value.split("|")]
    if any(not s for s in specs):
        raise ValueError(f"empty alternative in {value!r}; write 'provider:model | fallback'")
    for spec in specs:
        parse_spec(spec)
    return specs


def choose(value: str) -> Choice:
    """The first alternative whose requirements are met; the last one if none is (a run then
    stops at its preflight, naming the missing key)."""
    specs = alternatives(value)
    passed: list[tuple[str, str]] = []
    for spec in specs:
        missing = missing_requirement(spec)
        if missing is None:
            return Choice(spec, value, tuple(passed))
        passed.append((spec, missing))
    return Choice(specs[-1], value, tuple(passed[:-1]))
