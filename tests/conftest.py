"""Shared test fixtures."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from harness.procedure import Procedure, load_procedure

ROOT = Path(__file__).resolve().parent.parent


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (for tests that start servers and stop them)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:        # a zombie (ended, its parent not yet told) is not alive
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return True


PROCEDURE_DATA = Path(__file__).parent / "harness" / "procedure"


@cache
def shipped_procedure(domain: str) -> Procedure:
    """`procedures/<domain>.yaml` of this checkout, loaded once."""
    return load_procedure(ROOT / "procedures" / f"{domain}.yaml")


@pytest.fixture
def mini_path() -> Path:
    """A small valid procedure: 6 nodes, one hub with a loop."""
    return PROCEDURE_DATA / "valid.yaml"


@pytest.fixture
def mini_text(mini_path: Path) -> str:
    return mini_path.read_text()


def tiny_model(texts: list[str], *, seed: int) -> tuple[Any, Any]:
    """A tiny random Llama (1 layer, 32 wide) and a 300-token tokenizer trained on `texts`:
    a real model that loads and decodes in milliseconds."""
    from compile.tiny_model import TinyModelConfig, build_tiny_model, train_tokenizer

    tokenizer = train_tokenizer(texts * 8, vocab_size=300)
    config = TinyModelConfig(vocab_size=300, hidden_size=32, intermediate_size=64, num_layers=1,
                             num_heads=2, num_kv_heads=2, max_position_embeddings=256)
    return build_tiny_model(config, tokenizer, seed=seed), tokenizer


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model saved as a plain HF directory: a model that loads and serves in seconds."""
    model, tokenizer = tiny_model(["hello there, how can I help you today?"], seed=0)
    out = tmp_path_factory.mktemp("tiny-hf")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


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


SUITE = """
name: edits
procedures:
  - {procedure: procedures/travel.yaml, scenarios: scenarios/travel.yaml, n: 6, seed: 3}
conditions: [orchestrated, in_context]
compile: {recipe: tiny-cpu, n: 24}
models: {generator: offline, user: offline, frontier: offline, base: offline, judges: [offline]}
thresholds: {}
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def travel_repo(tmp_path: Path) -> Path:
    """A git repository holding the travel procedure, its scenarios and a gate suite
    (`edits.gate.yaml`: orchestrated and in_context, 6 scenarios, offline), committed."""
    for rel in ("procedures/travel.yaml", "scenarios/travel.yaml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    (tmp_path / "edits.gate.yaml").write_text(SUITE)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "v1")
    return tmp_path


# Flowchart shapes beyond strict alternation (issue 10): agent chains, agent-side decisions,
# customer-opened chats, loops through a chain. Each has `<name>.yaml` and `<name>.scenarios.yaml`.
SHAPES = PROCEDURE_DATA / "shapes"
SHAPE_NAMES = ("agent_chain", "agent_hub", "customer_opens", "chain_loop")


def shape_files(name: str) -> tuple[Path, Path]:
    """The procedure file and scenario-set file of shape fixture `name`."""
    return SHAPES / f"{name}.yaml", SHAPES / f"{name}.scenarios.yaml"
