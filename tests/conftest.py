"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROCEDURE_DATA = Path(__file__).parent / "harness" / "procedure"


@pytest.fixture
def mini_path() -> Path:
    """A small valid procedure: 6 nodes, one hub with a loop."""
    return PROCEDURE_DATA / "valid.yaml"


@pytest.fixture
def mini_text(mini_path: Path) -> str:
    return mini_path.read_text()


# No real keys, endpoints or cache modes leak into the tests.
KEY_VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL",
                 "OPENAI_BASE_URL", "SUBTERRA_CACHE_MODE")


@pytest.fixture(scope="session")
def llm_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder per session, so the converted tokenizer is made once per worker."""
    return tmp_path_factory.mktemp("llm-cache")


@pytest.fixture(autouse=True)
def _clean_llm_environment(monkeypatch: pytest.MonkeyPatch, llm_cache_dir: Path) -> None:
    # Nothing is written into the checkout either: the model-call cache goes to a temp folder.
    for variable in KEY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("SUBTERRA_CACHE_DIR", str(llm_cache_dir))


# Flowchart shapes beyond strict alternation (issue 10): agent chains, agent-side decisions,
# customer-opened chats, loops through a chain. Each has `<name>.yaml` and `<name>.scenarios.yaml`.
SHAPES = PROCEDURE_DATA / "shapes"
SHAPE_NAMES = ("agent_chain", "agent_hub", "customer_opens", "chain_loop")


def shape_files(name: str) -> tuple[Path, Path]:
    """The procedure file and scenario-set file of shape fixture `name`."""
    return SHAPES / f"{name}.yaml", SHAPES / f"{name}.scenarios.yaml"
