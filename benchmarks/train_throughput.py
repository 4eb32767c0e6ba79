"""Useful tokens per second: our trainer vs a plain padded `transformers.Trainer`.

    .venv/bin/python benchmarks/train_throughput.py                     # SmolLM2-135M, travel, ~4 min on 2 cores
    .venv/bin/python benchmarks/train_throughput.py --procedure insurance --conversations 24
    .venv/bin/python benchmarks/train_throughput.py --model tiny-cpu    # the from-scratch tiny Llama, ~1 min

Same base model, same conversations (travel by default, generated offline), same objective
(loss on the agent's tokens only), same effective batch and learning-rate schedule, one epoch
each. Useful tokens are the agent tokens the loss is computed on (never padding, never the
prompt). Our trainer feeds each micro-batch without padding (packed, position ids restarting
per conversation) and computes logits only where the next token is an agent token; the
Trainer pads every batch to its longest conversation and computes logits everywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from compile.base_model import load_base
from compile.datagen import DatagenConfig, generate_dataset, load_split
from compile.dataset import tokenize_conversations
from compile.recipe import load_recipe
from compile.train import train
from harness.llm.offline import OfflineModel
from harness.procedure import load_procedure
from harness.scenarios import load_scenario_set

ROOT = Path(__file__).resolve().parent.parent


def offline_conversations(domain: str, n: int, out: Path) -> tuple[list, list, str]:
    procedure = load_procedure(ROOT / "procedures" / f"{domain}.yaml")
    scenarios = load_scenario_set(ROOT / "scenarios" / f"{domain}.yaml")
    config = DatagenConfig(n=n, seeds=[7], eval_fraction=0.1)
    asyncio.run(generate_dataset(OfflineModel(), procedure, scenarios, config, out, show_progress=False))
    return load_split(out, "train"), load_split(out, "eval"), procedure.system_prompt


def hf_trainer_tokens_per_second(recipe, conversations, system_prompt: str, trainer_batch: int, work: Path
                                 ) -> tuple[float, int, int]:
    """One epoch of a plain Trainer: padded batches, labels = our assistant-only labels."""
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    corpus = [system_prompt] + [t.text for c in conversations for t in c.turns]
    model, tokenizer = load_base(recipe.model, corpus=corpus, seed=recipe.seed)
    examples = tokenize_conversations(tokenizer, conversations, system_prompt, recipe.max_seq_len)
    rows = [{"input_ids": e.input_ids, "labels": e.labels} for e in examples]
    useful = sum(e.n_labels - (e.labels[0] != -100) for e in examples)   # position 0 is never predicted
    padded_tokens = 0
    pad = DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=-100)

    def collate(features):
        nonlocal padded_tokens
        batch = pad(features)
        padded_tokens += batch["input_ids"].numel()
        return batch

    args = TrainingArguments(
        output_dir=str(work / "hf"), per_device_train_batch_size=trainer_batch,
        gradient_accumulation_steps=recipe.effective_batch // trainer_batch, num_train_epochs=1,
        learning_rate=recipe.lr, lr_scheduler_type="cosine", warmup_steps=recipe.warmup_ratio,
        weight_decay=recipe.weight_decay, max_grad_norm=recipe.grad_clip or 0.0, save_strategy="no",
        eval_strategy="no", logging_strategy="no", report_to="none", use_cpu=True, seed=recipe.seed,
        dataloader_num_workers=0, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collate)
    metrics = trainer.train().metrics
    return useful / metrics["train_runtime"], useful, padded_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m", help="a recipe: smollm2-135m or tiny-cpu")
    parser.add_argument("--conversations", type=int, default=48, help="training conversations")
    parser.add_argument("--trainer-batch", type=int, default=4, help="the Trainer's per-device batch")
    parser.add_argument("--procedure", default="travel", choices=["travel", "zoom", "insurance"],
                        help="whose conversations (insurance: 9-39 turns, so padding costs more)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        train_convs, eval_convs, system_prompt = offline_conversations(args.procedure, args.conversations + 12,
                                                                       work / "data")
        train_convs, eval_convs = train_convs[:args.conversations], eval_convs[:4]
        recipe = load_recipe(args.model, {"epochs": 1, "max_steps": None, "eval_every_steps": None,
                                          "early_stopping_patience": None})
        if recipe.effective_batch % args.trainer_batch:
            raise SystemExit(f"--trainer-batch must divide the effective batch {recipe.effective_batch}")
        print(f"{args.model}: {len(train_convs)} {args.procedure} conversations, effective batch {recipe.effective_batch} "
              f"(ours: {recipe.per_device_batch} x {recipe.grad_accum}, packed={recipe.packing}; "
              f"Trainer: {args.trainer_batch} x {recipe.effective_batch // args.trainer_batch}, padded)")

        started = time.perf_counter()
        ours = train(recipe, train_convs, eval_convs, system_prompt=system_prompt, out_dir=work / "ours",
                     show_progress=False)
        print(f"  ours:    {ours.tokens_per_second:8.1f} useful tok/s  ({ours.train_tokens} useful of "
              f"{ours.input_tokens} fed tokens; {time.perf_counter() - started:.0f} s incl. load/eval/save)")

        hf_rate, useful, padded = hf_trainer_tokens_per_second(recipe, train_convs, system_prompt,
                                                               args.trainer_batch, work)
        print(f"  Trainer: {hf_rate:8.1f} useful tok/s  ({useful} useful of {padded} fed tokens incl. padding)")
        assert useful == ours.train_tokens, (useful, ours.train_tokens)
        print(f"ratio (ours / Trainer, useful tokens per second): {ours.tokens_per_second / hf_rate:.2f}x")


if __name__ == "__main__":
    main()
