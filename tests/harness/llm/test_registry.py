"""Spec strings -> models; the package's public surface."""

from __future__ import annotations

import pkgutil
import sys

import pytest

import harness.llm
from harness.llm import ConfigurationError, Model, get_model, parse_spec
from harness.llm.anthropic import AnthropicModel
from harness.llm.local import LocalModel
from harness.llm.offline import OfflineModel
from harness.llm.openai import OpenAICompatibleModel, OpenAIModel


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("anthropic:claude-sonnet-4-5", ("anthropic", "claude-sonnet-4-5")),
        ("openai:gpt-4.1", ("openai", "gpt-4.1")),
        (
            "openai-compatible:http://host:8000/v1:MODEL",
            ("openai-compatible", "http://host:8000/v1:MODEL"),
        ),
        ("local:smollm2-135m", ("local", "smollm2-135m")),
        ("local:/abs/path:with-colon", ("local", "/abs/path:with-colon")),
        ("offline", ("offline", "")),
        ("offline:judge", ("offline", "judge")),
    ],
)
def test_parse_spec(spec: str, expected: tuple[str, str]) -> None:
    assert parse_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "gemini:pro",
            "unknown model provider 'gemini'.*anthropic, openai, openai-compatible, local, vllm, offline",
        ),
        ("anthropic", "names no model"),
        ("local:", "names no model"),
        ("openai-compatible:host:8000:model", "must look like"),
    ],
)
def test_bad_specs_are_clear_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        get_model(spec)


@pytest.mark.parametrize(
    ("rest", "url", "model"),
    [
        ("http://host:8000/v1:MODEL", "http://host:8000/v1", "MODEL"),
        (
            "http://10.0.0.2:8000/v1:meta-llama/Llama-3.1-8B:instruct",
            "http://10.0.0.2:8000/v1",
            "meta-llama/Llama-3.1-8B:instruct",
        ),
        ("https://vllm.example.com:llama3", "https://vllm.example.com", "llama3"),
    ],
)
def test_openai_compatible_spec_splits_url_and_model(rest: str, url: str, model: str) -> None:
    built = get_model(f"openai-compatible:{rest}", cache="off")
    assert isinstance(built.provider, OpenAICompatibleModel)
    assert (built.provider.base_url, built.provider.model_id) == (url, model)
    assert built.provider.cache_identity == f"openai-compatible:{url}"


def test_get_model_builds_the_right_provider_inside_a_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    kinds = {
        "anthropic:claude-sonnet-4-5": AnthropicModel,
        "openai:gpt-4.1": OpenAIModel,
        "local:smollm2-135m": LocalModel,
        "offline": OfflineModel,
    }
    for spec, kind in kinds.items():
        model = get_model(spec, cache="off")
        assert isinstance(model, Model) and type(model.provider) is kind and model.name == spec


def test_network_models_cache_and_cap_concurrency_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    model = get_model("openai:gpt-4.1")
    assert model.cache is not None and model.cache.mode == "record"
    assert model.limits.max_concurrency == 16
    assert get_model("offline").limits.max_concurrency is None


def test_unknown_provider_options_are_rejected() -> None:
    with pytest.raises(TypeError, match="temperature"):
        get_model("local:smollm2-135m", temperature=1)
    with pytest.raises(ConfigurationError, match="no options"):
        get_model("offline", api_key="x")


def test_importing_the_package_loads_no_sdk_or_torch() -> None:
    import subprocess

    code = (
        "import sys, harness.llm; "
        "print(sorted(m for m in ('torch', 'transformers', 'anthropic', 'openai', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_public_names_are_what_all_says() -> None:
    # "@py_..." names come from pytest rewriting asserts in our own (plugin-carrying) package.
    public = {name for name in dir(harness.llm) if not name.startswith(("_", "@"))}
    modules = {m.name for m in pkgutil.iter_modules(harness.llm.__path__)}   # submodules, once imported
    assert public - modules == set(harness.llm.__all__)
