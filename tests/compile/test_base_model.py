from __future__ import annotations

import pytest

from compile.base_model import is_hub_id, load_base
from compile.recipe import ModelSpec, load_recipe
from compile.train import train
from harness.llm.weights import load_causal_lm


def test_hub_ids_are_told_apart_from_local_paths(tmp_path) -> None:
    assert is_hub_id("Qwen/Qwen3-8B") and is_hub_id("Qwen/Qwen2.5-3B-Instruct")
    assert not is_hub_id("smollm2-135m") and not is_hub_id("./ckpt") and not is_hub_id("/abs/path")
    (tmp_path / "org" / "name").mkdir(parents=True)
    assert not is_hub_id(str(tmp_path / "org" / "name"))


def test_scratch_source_learns_its_tokenizer_from_the_corpus() -> None:
    spec = ModelSpec(source="scratch", scratch={"vocab_size": 300, "hidden_size": 32, "intermediate_size": 64,
                                                "num_layers": 1, "num_heads": 2, "num_kv_heads": 1})
    model, tokenizer = load_base(spec, corpus=["grooming appointment"] * 50, seed=0)
    # Each corpus word became one token: "grooming" and " appointment" (byte-level BPE keeps the space).
    assert model.training and len(tokenizer.encode("grooming appointment", add_special_tokens=False)) == 2


@pytest.mark.slow
def test_smollm2_recipe_trains_and_saves_a_loadable_checkpoint(toy_train, toy_eval, system_prompt, tmp_path) -> None:
    recipe = load_recipe("smollm2-135m", {"grad_accum": 1, "max_steps": 1, "max_seq_len": 256, "warmup_ratio": 0.0})
    result = train(recipe, toy_train[:2], toy_eval[:1], system_prompt=system_prompt, out_dir=tmp_path)
    assert result.steps == 1 and result.parameters > 100_000_000
    assert result.best_eval_loss < result.initial_eval_loss           # no warmup: the one step has a real lr
    model, tokenizer = load_causal_lm(result.checkpoint)               # plain safetensors, no GGUF label left
    assert getattr(model, "hf_quantizer", None) is None and "quantization_config" not in model.config.to_dict()
    assert tokenizer.apply_chat_template([{"role": "system", "content": system_prompt}], tokenize=False)
