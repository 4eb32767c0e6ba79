"""Before a gate run starts: what this machine lacks to run a suite, named at once.

A suite that names real models needs their API keys; a recipe that trains on CUDA needs the
GPUs; a `local:` model needs its weights on disk. Finding out deep inside a run (after data
generation, or at the first judge call) wastes the run, so the gate checks first and stops
with one line per missing thing.
"""

from __future__ import annotations

from compile.devices import missing_device
from compile.recipe import load_recipe
from gate.suite import GateSuite
from harness.conditions import model_role
from harness.llm.choice import missing_requirement

__all__ = ["preflight"]


def _used_models(suite: GateSuite) -> dict[str, str]:
    m = suite.models
    roles = {"generator": m.generator, "user": m.user}
    if any(model_role(c) == "frontier" for c in suite.conditions):
        roles["frontier"] = m.frontier
    if "orchestrated" in suite.conditions:
        roles["base"] = m.base
    roles |= {f"judges[{i}]": j for i, j in enumerate(m.judges)}
    return roles


def preflight(suite: GateSuite) -> list[str]:
    """One 'suite file: what is missing' line per problem; empty when the suite can run here."""
    where = str(suite.source.origin) if suite.source and suite.source.origin else suite.name
    lacking: dict[tuple[str, str], list[str]] = {}      # (spec, what it lacks) -> roles
    for role, spec in _used_models(suite).items():
        missing = missing_requirement(spec)
        if missing is not None:
            lacking.setdefault((spec, missing), []).append(role)
    problems = [f"{where}: {missing}, which {spec} needs (models: {', '.join(roles)})"
                for (spec, missing), roles in lacking.items()]
    recipe = load_recipe(suite.compile.recipe, suite.compile.overrides)
    device = missing_device(recipe)
    if device is not None:
        problems.append(f"{where}: compile recipe {suite.compile.recipe} trains on {device}")
    return problems
