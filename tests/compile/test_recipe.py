from __future__ import annotations

import pytest
import torch
from accelerate.utils import DeepSpeedPlugin

from compile.recipe import Recipe, available_recipes, load_recipe, parse_overrides
from compile.token_loss import summed_cross_entropy
from compile.train import train
from harness.errors import SpecError

from .conftest import MICRO_MODEL


def test_shipped_recipes_load() -> None:
    assert {"tiny-cpu", "smollm2-135m", "qwen2.5-3b", "qwen3-8b"} <= set(available_recipes())
    for name in available_recipes():
        assert isinstance(load_recipe(name), Recipe)


def test_paper_recipes_match_the_paper() -> None:
    exp1 = load_recipe("qwen2.5-3b")          # §4.1
    assert (exp1.model.source, exp1.model.dtype, exp1.optimizer) == ("Qwen/Qwen2.5-3B-Instruct", "bfloat16", "adamw_8bit")
    assert (exp1.lr, exp1.schedule, exp1.effective_batch, exp1.epochs) == (2e-5, "cosine", 16, 20)
    exp2 = load_recipe("qwen3-8b")            # §4.2-4.3
    assert (exp2.model.source, exp2.model.dtype, exp2.optimizer) == ("Qwen/Qwen3-8B", "bfloat16", "adamw")
    assert (exp2.lr, exp2.effective_batch, exp2.epochs, exp2.processes) == (2e-5, 32, 10, 8)


def test_deepspeed_config_is_zero3_and_accelerate_fills_it_from_the_recipe() -> None:
    recipe = load_recipe("qwen3-8b")
    plugin = DeepSpeedPlugin(hf_ds_config=recipe.deepspeed_config(), gradient_accumulation_steps=recipe.grad_accum,
                             gradient_clipping=recipe.grad_clip, zero3_init_flag=True)
    config = plugin.deepspeed_config
    assert plugin.zero_stage == 3 and config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"]
    assert config["gradient_accumulation_steps"] == 4 and config["gradient_clipping"] == 1.0


def test_invalid_recipes_say_where_and_what(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  source: scratch\nlr: 1e-3\nper_device_batch: 0\nmax_seq_len: 64\nepochs: 1\n")
    with pytest.raises(SpecError, match=r"bad.yaml:4: per_device_batch"):
        load_recipe(bad)
    with pytest.raises(SpecError, match="needs a launcher"):
        load_recipe("qwen3-8b", {"launcher": "none"})
    with pytest.raises(SpecError, match="adamw_8bit"):
        load_recipe("qwen3-8b", {"optimizer": "adamw_8bit"})
    with pytest.raises(SpecError, match="unknown recipe .nope."):
        load_recipe("nope")


def test_overrides_reach_nested_fields() -> None:
    overrides = parse_overrides(["lr=3e-4", "model.scratch.num_layers=2", "max_steps=5"])
    recipe = load_recipe("tiny-cpu", overrides)
    assert (recipe.lr, recipe.model.scratch.num_layers, recipe.max_steps) == (3e-4, 2, 5)
    assert recipe.model.scratch.hidden_size == load_recipe("tiny-cpu").model.scratch.hidden_size
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["lr"])


def test_gpu_recipes_refuse_the_cpu_with_a_way_out(toy_train, toy_eval, system_prompt, tmp_path) -> None:
    with pytest.raises(RuntimeError, match="dry_run"):
        train(load_recipe("qwen2.5-3b"), toy_train, toy_eval, system_prompt=system_prompt, out_dir=tmp_path)
    eight_bit_on_cpu = load_recipe("qwen2.5-3b", {"device": "cpu", "launcher": "none", "max_seq_len": 512,
                                                  "model": {"source": "scratch", "dtype": "float32", "scratch": MICRO_MODEL}})
    with pytest.raises(RuntimeError, match="adamw_8bit .* needs a CUDA device"):
        train(eight_bit_on_cpu, toy_train, toy_eval, system_prompt=system_prompt, out_dir=tmp_path)


@pytest.mark.parametrize("name", ["qwen2.5-3b", "qwen3-8b"])
def test_gpu_recipes_dry_run_on_cpu(name, toy_train, toy_eval, system_prompt, tmp_path) -> None:
    recipe = load_recipe(name)
    dry = recipe.dry_run(steps=2)
    kept = {"lr", "warmup_ratio", "per_device_batch", "grad_accum", "max_seq_len", "packing", "epochs", "seed"}
    assert dry.model_dump(include=kept) == recipe.model_dump(include=kept)
    assert (dry.model.source, dry.device, dry.launcher, dry.deepspeed, dry.optimizer) == ("scratch", "cpu", "none", None, "adamw")
    result = train(dry, toy_train, toy_eval, system_prompt=system_prompt, out_dir=tmp_path)
    assert result.steps == 2 and [p.step for p in result.curve] == [0, 2]
    assert result.train_tokens > 0 and (result.checkpoint / "config.json").is_file()


@pytest.mark.parametrize(("native", "expected"), [(True, "bf16"), (False, "off")])
def test_cpu_autocast_auto_is_resolved_at_load_from_the_cpu(native, expected, monkeypatch) -> None:
    monkeypatch.setattr("compile.recipe.cpu_multiplies_bf16", lambda: native)
    recipe = load_recipe("smollm2-135m")
    assert recipe.cpu_autocast == expected          # the store's fingerprint names what ran
    assert load_recipe("smollm2-135m", {"cpu_autocast": "off"}).cpu_autocast == "off"


def test_cpu_bf16_autocast_trains_and_keeps_fp32_weights(micro_recipe, toy_train, toy_eval, system_prompt,
                                                         tmp_path) -> None:
    recipe = micro_recipe(cpu_autocast="bf16", max_steps=4, eval_every_steps=4)
    result = train(recipe, toy_train, toy_eval, system_prompt=system_prompt, out_dir=tmp_path)
    assert result.best_eval_loss < result.initial_eval_loss
    config = (result.checkpoint / "config.json").read_text()
    assert '"float32"' in config and "bfloat16" not in config


def test_cpu_bf16_autocast_hands_the_loss_bf16_logits(micro_recipe, toy_train, toy_eval, system_prompt, tmp_path,
                                                      monkeypatch) -> None:
    # accelerate's autocast would cast the outputs to fp32 (a copy of every step's logits): the
    # trainer autocasts itself and the loss reads the bf16 logits
    import compile.train as train_module

    seen: list[torch.dtype] = []

    def recording(logits, targets):
        seen.append(logits.dtype)
        return summed_cross_entropy(logits, targets)
    monkeypatch.setattr(train_module, "summed_cross_entropy", recording)
    train(micro_recipe(cpu_autocast="bf16", max_steps=1), toy_train, toy_eval, system_prompt=system_prompt,
          out_dir=tmp_path / "bf16")
    assert seen and set(seen) == {torch.bfloat16}
    seen.clear()
    train(micro_recipe(cpu_autocast="off", max_steps=1), toy_train, toy_eval, system_prompt=system_prompt,
          out_dir=tmp_path / "fp32")
    assert seen and set(seen) == {torch.float32}
