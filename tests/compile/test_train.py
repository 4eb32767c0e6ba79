from __future__ import annotations

import re

import pytest
import torch
from safetensors.torch import load_file

from compile.base_model import load_base
from compile.dataset import tokenize_conversations
from compile.train import RESULT_FILE, TrainResult, stops_early, train
from harness.llm.weights import load_causal_lm

from .conftest import GREETINGS


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _overlap(text: str) -> float:
    """Best word-level F1 between `text` and one of the training greetings."""
    got = _words(text)
    best = 0.0
    for greeting in GREETINGS:
        want = _words(greeting)
        common = sum(min(got.count(w), want.count(w)) for w in set(want))
        if common:
            precision, recall = common / len(got), common / len(want)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def _first_agent_turn(model, tokenizer, system_prompt: str) -> str:
    prompt = tokenizer.apply_chat_template([{"role": "system", "content": system_prompt}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    model.eval()
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=40, do_sample=False,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, prompt["input_ids"].shape[1]:], skip_special_tokens=True)


def test_compiled_model_beats_the_untrained_one_on_held_out_agent_turns(
        micro_recipe, toy_train, toy_eval, system_prompt, tmp_path) -> None:
    recipe = micro_recipe()
    result = train(recipe, toy_train, toy_eval, system_prompt=system_prompt, out_dir=tmp_path, show_progress=False)

    # Held-out assistant-token loss: the curve starts at the untrained model's.
    assert result.curve[0].step == 0 and result.initial_eval_loss > 5.0       # ~ln(vocab) at init
    assert result.best_eval_loss < 0.25 * result.initial_eval_loss
    assert result.best_eval_loss == min(p.eval_loss for p in result.curve[1:])
    assert result.steps == 10 * 12 and result.epochs == 10 and not result.stopped_early

    # Every epoch saw every training conversation's agent tokens once (nothing dropped).
    base, tokenizer = load_base(recipe.model, corpus=[system_prompt] + [t.text for c in toy_train for t in c.turns],
                                seed=recipe.seed)
    per_epoch = sum(t.n_labels for t in tokenize_conversations(tokenizer, toy_train, system_prompt, 512))
    assert result.train_tokens == 10 * per_epoch and result.input_tokens > result.train_tokens
    assert result.tokens_per_second > 0 and result.seconds > 0

    # The best checkpoint is a normal transformers checkpoint that the LLM layer loads.
    assert TrainResult.model_validate_json((tmp_path / RESULT_FILE).read_text()) == result
    assert not (tmp_path / "state").exists()
    trained, trained_tokenizer = load_causal_lm(result.checkpoint)
    assert trained_tokenizer.chat_template and trained_tokenizer.eos_token == "<|im_end|>"

    # Greedy first agent turn: a training-style greeting after, noise before.
    before = _overlap(_first_agent_turn(base, tokenizer, system_prompt))
    after = _overlap(_first_agent_turn(trained, trained_tokenizer, system_prompt))
    assert after >= 0.8 and after > before + 0.5, (before, after)


class Killed(Exception):
    """Stands in for the process dying."""


def _die_at(step: int):
    def hook(at: int) -> None:
        if at == step:
            raise Killed
    return hook


def test_a_killed_run_resumes_and_ends_with_the_uninterrupted_weights(
        micro_recipe, toy_train, toy_eval, system_prompt, tmp_path) -> None:
    recipe = micro_recipe(epochs=2, eval_every_steps=5)          # 24 steps, resume points every 5
    straight = train(recipe, toy_train, toy_eval, system_prompt=system_prompt, out_dir=tmp_path / "a")

    with pytest.raises(Killed):
        train(recipe, toy_train, toy_eval, system_prompt=system_prompt, out_dir=tmp_path / "b", on_step=_die_at(13))
    assert (tmp_path / "b" / "state" / "complete").is_file()
    resumed = train(recipe, toy_train, toy_eval, system_prompt=system_prompt, out_dir=tmp_path / "b")

    assert resumed.resumed_from_step == 10 and straight.resumed_from_step is None
    assert resumed.steps == straight.steps == 24
    assert [p.eval_loss for p in resumed.curve] == [p.eval_loss for p in straight.curve]
    assert resumed.train_tokens == straight.train_tokens
    a = load_file(tmp_path / "a" / "best" / "model.safetensors")
    b = load_file(tmp_path / "b" / "best" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resuming_with_another_recipe_is_refused(micro_recipe, toy_train, toy_eval, system_prompt, tmp_path) -> None:
    recipe = micro_recipe(epochs=1, eval_every_steps=2)
    with pytest.raises(Killed):
        train(recipe, toy_train, toy_eval, system_prompt=system_prompt, out_dir=tmp_path, on_step=_die_at(3))
    with pytest.raises(ValueError, match="different recipe or dataset"):
        train(micro_recipe(epochs=1, eval_every_steps=2, lr=1e-3), toy_train, toy_eval,
              system_prompt=system_prompt, out_dir=tmp_path)


def test_early_stopping_keeps_the_best_checkpoint(micro_recipe, toy_train, toy_eval, system_prompt, tmp_path) -> None:
    # A learning rate far too high: the loss gets worse after the first evals and training stops.
    recipe = micro_recipe(lr=0.5, warmup_ratio=0.0, grad_clip=None, eval_every_steps=2, early_stopping_patience=2)
    result = train(recipe, toy_train, toy_eval, system_prompt=system_prompt, out_dir=tmp_path)
    assert result.stopped_early and result.steps < 120
    later = [p.eval_loss for p in result.curve if p.step > result.best_step]
    assert len(later) == 2 and all(loss >= result.best_eval_loss for loss in later)


def test_patience_running_out_at_the_last_step_is_not_an_early_stop() -> None:
    # travel on tiny-cpu: best at epoch 9 of 12, patience 3 runs out exactly at step 156 of 156;
    # the log said "(early stop)" and training.json stopped_early: true for a complete run.
    assert not stops_early(3, 3, step=156, total_steps=156)
    assert stops_early(3, 3, step=143, total_steps=156)
    assert not stops_early(2, 3, step=143, total_steps=156)
    assert not stops_early(99, None, step=10, total_steps=156)


def test_training_without_held_out_conversations_is_refused(micro_recipe, toy_train, system_prompt, tmp_path) -> None:
    with pytest.raises(ValueError, match="both splits"):
        train(micro_recipe(), toy_train, [], system_prompt=system_prompt, out_dir=tmp_path)


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_of_the_cli_matches_an_uninterrupted_run(
        micro_recipe, toy_train, toy_eval, system_prompt, tmp_path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from harness.transcript import write_jsonl

    recipe = micro_recipe(epochs=6, eval_every_steps=3)
    (tmp_path / "recipe.json").write_text(recipe.model_dump_json())
    write_jsonl(tmp_path / "data" / "train.jsonl", toy_train)
    write_jsonl(tmp_path / "data" / "eval.jsonl", toy_eval)
    argv = [sys.executable, "-m", "compile.train", "--recipe", str(tmp_path / "recipe.json"),
            "--data", str(tmp_path / "data"), "--system-prompt", system_prompt, "--out", str(tmp_path / "killed")]

    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (tmp_path / "killed" / "state" / "complete").exists() and child.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    resumed = TrainResult.model_validate_json((tmp_path / "killed" / RESULT_FILE).read_text())
    straight = train(recipe, toy_train, toy_eval, system_prompt=system_prompt, out_dir=tmp_path / "straight")
    assert resumed.resumed_from_step is not None and 0 < resumed.resumed_from_step < resumed.steps
    assert [p.eval_loss for p in resumed.curve] == pytest.approx([p.eval_loss for p in straight.curve], abs=1e-6)
    a = load_file(tmp_path / "killed" / "best" / "model.safetensors")
    b = load_file(tmp_path / "straight" / "best" / "model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
