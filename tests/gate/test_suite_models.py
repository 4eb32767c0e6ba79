"""Suite roles with fallbacks: the environment decides, the suite records what it decided."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.suite import load_suite
from harness.errors import SpecErrors
from tests.conftest import ROOT

ROLES = """
models:
  generator: anthropic:claude-sonnet-4-5 | offline
  user: anthropic:claude-sonnet-4-5 | offline
  frontier: anthropic:claude-sonnet-4-5 | offline
  judges: [anthropic:claude-sonnet-4-5 | offline, openai:gpt-4.1 | offline]
"""


def suite_file(tmp_path: Path, models: str) -> Path:
    path = tmp_path / "s.gate.yaml"
    path.write_text(f"name: s\nprocedures:\n  - procedure: {ROOT / 'procedures/travel.yaml'}\n"
                    f"    scenarios: {ROOT / 'scenarios/travel.yaml'}\n{models}")
    return path


def test_without_keys_every_role_falls_back_and_the_suite_is_offline(tmp_path: Path) -> None:
    suite = load_suite(suite_file(tmp_path, ROLES))
    m = suite.models
    assert (m.generator, m.user, m.frontier, m.judges) == ("offline", "offline", "offline", ["offline"])
    assert suite.offline and "ANTHROPIC_API_KEY is not set" in m.chosen["frontier"]
    assert "not openai:gpt-4.1: OPENAI_API_KEY is not set" in m.chosen["judges"]


def test_with_keys_the_real_models_play_and_results_are_keyed_apart(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    offline = load_suite(suite_file(tmp_path, ROLES))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-oai")
    real = load_suite(suite_file(tmp_path, ROLES))
    assert real.models.frontier == "anthropic:claude-sonnet-4-5" and not real.offline
    assert real.models.judges == ["anthropic:claude-sonnet-4-5", "openai:gpt-4.1"]
    assert real.models.model_dump() != offline.models.model_dump()     # the results fingerprint differs


def test_the_shipped_gate_suite_follows_the_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CI workflow's promise: set the secrets and the gate runs on the real models."""
    assert load_suite(ROOT / "test_suites/travel.gate.yaml").offline
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-oai")
    suite = load_suite(ROOT / "test_suites/travel.gate.yaml")
    assert not suite.offline and suite.models.judges == ["anthropic:claude-sonnet-4-5", "openai:gpt-4.1"]


def test_an_unknown_provider_in_a_fallback_is_the_suites_error(tmp_path: Path) -> None:
    with pytest.raises(SpecErrors, match=r"s.gate.yaml:\d+: models(\.frontier)?: .*unknown model provider 'antropic'"):
        load_suite(suite_file(tmp_path, "models:\n  frontier: antropic:x | offline\n"))


def test_a_replay_computes_local_models_again_and_replays_only_recorded_ones(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from gate.role_models import build_models
    from gate.suite import Models

    monkeypatch.setenv("SUBTERRA_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    models = build_models(Models(user="openai:gpt-4.1", base="local:smollm2-135m", judges=["offline"]), "replay")
    assert models.user.cache is not None and models.user.cache.mode == "replay"
    assert models.base.cache is None and models.judges[0].cache is None   # never recorded: computed again
