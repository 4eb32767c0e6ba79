"""Useful tokens per second and MFU: our trainer vs TRL's SFTTrainer vs a padded Trainer.

    .venv/bin/python benchmarks/train_throughput.py                     # SmolLM2-135M, travel, a few min on 2 cores
    .venv/bin/python benchmarks/train_throughput.py --conversations 48 --procedure insurance
    .venv/bin/python benchmarks/train_throughput.py --model tiny-cpu    # the from-scratch tiny Llama, ~1 min

Same base model, same tokenised conversations (travel by default, generated offline), same
objective (loss on the agent's tokens only, mean over the optimizer step's tokens), same
number of optimizer steps, learning rate and cosine schedule, one epoch each:

- ours: `compile.train.train` with the recipe's layout: packed, no padding, position ids
  restarting per conversation, logits only where the next token is an agent token;
- TRL: `trl.SFTTrainer` with `packing=True` (best-fit-decreasing into rows of the recipe's
  max_seq_len, which turns on `padding_free`), one packed row per micro-batch and as many
  rows per step as give the same number of steps. Its labels come from an `assistant_masks`
  column built by our span finder: TRL's own `assistant_only_loss=True` needs
  `{% generation %}` markers, which SmolLM2's template lacks and TRL cannot patch in;
- Trainer: `transformers.Trainer`, batches padded to their longest conversation.

Useful tokens are the agent tokens the loss is computed on (never padding, never the prompt).
Eval loss is each trained model's mean loss per agent token on the same held-out
conversations, computed by one function. MFU = 6 · parameters · tokens fed (padding not
counted) / training seconds / peak, the peak being the best of a few large matmuls in the
precision the trainers multiply in (bf16 where the recipe autocasts on this CPU, as all
three do then; fp32 otherwise), measured in the same run; attention FLOPs are left out.

Wall-clock numbers on a shared machine move with the other load; the ratios come from one
run, and the three trainers run one after another, so rerun when the machine is busy.

Measured (defaults, 2 quiet cores, all three under bf16 autocast on this AVX512-BF16 CPU):
ours 187.3, TRL 82.8, Trainer 116.4 useful tok/s; eval loss 0.990 / 0.995 / 1.027 after 4
steps; 2.26x TRL (MFU 57.6 % vs 25.5 % of the measured bf16 matmul peak), 1.61x the padded
Trainer. The measured peak moves by up to ~10 % from run to run (six measurements in a row:
392-417 GFLOP/s), and every MFU with it; the ratios stay. Ours before it attended by matmuls (compile.packed_attention)
and read the logits in chunks (compile.token_loss): 2.10x TRL, MFU 47.9 %; before one packed
row per step and the fused AdamW: 1.94x, 38 %.

Recompile time on GPUs, on paper: FLOPs = 6 x parameters x tokens trained, time = FLOPs /
(GPUs x bf16 dense peak x MFU), at an assumed 40 % MFU (what a well-fed dense bf16 fine-tune
reaches on these GPUs; attention FLOPs, eval and checkpoint saves left out). Tokens: the
paper's conversations run ~1,300 words (§5), ~1,700 tokens; our offline travel ones ~400.

    qwen2.5-3b recipe, 1 x A100 (312 TFLOP/s): Exp. 1 trains on 1,912 conversations
        = 3.3M tokens per epoch; 20 epochs = 65M tokens; 6 x 3.09e9 x 6.5e7 = 1.2e18 FLOPs
        -> 1.2e18 / (312e12 x 0.4) = 9,600 s = 2.7 h (the best checkpoint, epoch ~4, after
        32 min). Paper: 3-4 h for a single-A100 recompile, about what this gives with eval
        and a 6 GB save per epoch (and 3.5 h for these 20 epochs on an RTX 5090). Its §6
        figure is the 8B on one A100, 12 epochs: 6 x 8.19e9 x 2.9e7 = 1.4e18 -> 3.1 h at 40 %,
        matching its "~3 hours".
    qwen3-8b recipe, 8 x H200 (989 TFLOP/s each): the §6 recompile trains on ~1,440
        conversations (90 % of ~1,600) = 2.4M tokens per epoch; the recipe's 10 epochs = 24M
        tokens; 6 x 8.19e9 x 2.4e7 = 1.2e18 FLOPs -> 1.2e18 / (8 x 989e12 x 0.4) = 370 s
        = 6 min (7.5 min for the paper's 12 epochs). Paper: fine-tuning 10-15 min (so
        ~20-30 % MFU: ZeRO-3 gathers at a micro-batch of 1), inside a 30-50 min cycle that
        data generation (15-30 min, API-bound) and evaluation (5-15 min) dominate.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from compile.base_model import load_base
from compile.datagen import DatagenConfig, generate_dataset, load_split
from compile.dataset import IGNORE_INDEX, TokenizedConversation, collate, tokenize_conversations
from compile.recipe import Recipe, load_recipe
from compile.train import _loss_sum, train
from harness.llm.offline import OfflineModel
from harness.procedure import load_procedure
from harness.scenarios import load_scenario_set

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Measured:
    name: str
    useful: int            # agent tokens trained on
    fed: int               # tokens through forward + backward, padding not counted
    padded: int            # tokens through forward + backward, padding counted
    seconds: float         # optimizer steps only
    steps: int
    eval_loss: float

    @property
    def rate(self) -> float:
        return self.useful / self.seconds

    def mfu(self, parameters: int, peak: float) -> float:
        return 6 * parameters * self.fed / self.seconds / peak


def peak_flops(dtype: torch.dtype = torch.float32, n: int = 2048, repeats: int = 5) -> float:
    """The machine's matmul rate (FLOP/s) in `dtype`, best of `repeats`, with torch's threads."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * n ** 3 / best


def offline_conversations(domain: str, n: int, out: Path) -> tuple[list, list, str]:
    procedure = load_procedure(ROOT / "procedures" / f"{domain}.yaml")
    scenarios = load_scenario_set(ROOT / "scenarios" / f"{domain}.yaml")
    config = DatagenConfig(n=n, seeds=[7], eval_fraction=0.1)
    asyncio.run(generate_dataset(OfflineModel(), procedure, scenarios, config, out, show_progress=False))
    return load_split(out, "train"), load_split(out, "eval"), procedure.system_prompt


@torch.no_grad()
def eval_loss(model: Any, examples: Sequence[TokenizedConversation], pad_token_id: int) -> float:
    """Mean loss per agent token, one conversation at a time (what our trainer's eval computes)."""
    model.eval()
    total, count = 0.0, 0
    for example in examples:
        batch = collate([example], packing=True, pad_token_id=pad_token_id)
        total += float(_loss_sum(model, batch))
        count += batch.n_targets
    return total / count


class Counted:
    """Wraps a data collator; counts the tokens of every batch it makes (what was trained on)."""

    def __init__(self, collator: Any, pad_token_id: int) -> None:
        self.collator, self.pad_token_id = collator, pad_token_id
        self.useful = self.fed = self.padded = 0

    def __call__(self, features: list[dict]) -> dict:
        batch = self.collator(features)
        self.useful += int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())     # position 0 is never predicted
        self.padded += batch["input_ids"].numel()
        mask = batch.get("attention_mask")
        self.fed += int(mask.sum()) if mask is not None else batch["input_ids"].numel()
        return batch


def _training_args(recipe: Recipe, steps: int, per_device: int, accumulation: int, work: Path) -> dict[str, Any]:
    """The Trainer / SFTTrainer settings both baselines share (our recipe's schedule)."""
    return dict(output_dir=str(work), per_device_train_batch_size=per_device, gradient_accumulation_steps=accumulation,
                max_steps=steps, learning_rate=recipe.lr, lr_scheduler_type="cosine",
                warmup_steps=recipe.warmup_ratio, weight_decay=recipe.weight_decay,
                adam_beta1=recipe.betas[0], adam_beta2=recipe.betas[1], max_grad_norm=recipe.grad_clip or 0.0,
                save_strategy="no", eval_strategy="no", logging_strategy="no", report_to="none", use_cpu=True,
                seed=recipe.seed, dataloader_num_workers=0, disable_tqdm=True,
                bf16=recipe.cpu_autocast == "bf16")     # the same autocast as ours


def padded_trainer(recipe: Recipe, train_set, eval_set, corpus, steps: int, trainer_batch: int, work: Path
                   ) -> Measured:
    """A plain Trainer: padded batches, labels = our agent-only labels."""
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    model, tokenizer = load_base(recipe.model, corpus=corpus, seed=recipe.seed)
    rows = [{"input_ids": e.input_ids, "labels": e.labels} for e in train_set]
    counted = Counted(DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=IGNORE_INDEX),
                      tokenizer.pad_token_id)
    args = TrainingArguments(**_training_args(recipe, steps, trainer_batch, recipe.effective_batch // trainer_batch,
                                              work / "hf"))
    trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=counted)
    seconds = trainer.train().metrics["train_runtime"]
    return Measured("Trainer", counted.useful, counted.fed, counted.padded, seconds, steps,
                    eval_loss(model, eval_set, tokenizer.pad_token_id))


def trl_sft_trainer(recipe: Recipe, train_set, eval_set, corpus, steps: int, work: Path) -> Measured:
    """TRL's SFTTrainer, packed (BFD, padding-free), loss on the agent tokens only."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer
    from trl.data_utils import pack_dataset

    model, tokenizer = load_base(recipe.model, corpus=corpus, seed=recipe.seed)
    data = Dataset.from_list([{"input_ids": e.input_ids,
                               "assistant_masks": [int(x != IGNORE_INDEX) for x in e.labels]} for e in train_set])
    # As many packed rows per optimizer step as give our number of steps (same data per step).
    rows = len(pack_dataset(data.rename_column("assistant_masks", "labels"), recipe.max_seq_len, "bfd"))
    accumulation = math.ceil(rows / steps)
    config = SFTConfig(**_training_args(recipe, steps, 1, accumulation, work / "trl"), packing=True,
                       packing_strategy="bfd", max_length=recipe.max_seq_len, dataset_num_proc=None)
    trainer = SFTTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)
    trainer.data_collator = counted = Counted(trainer.data_collator, tokenizer.pad_token_id)
    seconds = trainer.train().metrics["train_runtime"]
    return Measured("TRL SFTTrainer", counted.useful, counted.fed, counted.padded, seconds, steps,
                    eval_loss(model, eval_set, tokenizer.pad_token_id))


def ours_trainer(recipe: Recipe, train_convs, eval_convs, eval_set, system_prompt: str, work: Path) -> Measured:
    result = train(recipe, train_convs, eval_convs, system_prompt=system_prompt, out_dir=work / "ours",
                   show_progress=False)
    return Measured("ours", result.train_tokens, result.input_tokens, result.input_tokens,
                    result.train_tokens / result.tokens_per_second, result.steps, result.curve[-1].eval_loss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m", help="a recipe: smollm2-135m or tiny-cpu")
    parser.add_argument("--conversations", type=int, default=32, help="training conversations")
    parser.add_argument("--trainer-batch", type=int, default=4, help="the padded Trainer's per-device batch")
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
        # MFU against the peak of the precision the matmuls run in (bf16 autocast where native).
        precision = "bf16" if recipe.cpu_autocast == "bf16" else "fp32"
        peak = peak_flops(torch.bfloat16 if precision == "bf16" else torch.float32)
        if recipe.effective_batch % args.trainer_batch:
            raise SystemExit(f"--trainer-batch must divide the effective batch {recipe.effective_batch}")
        corpus = [system_prompt] + [t.text for c in train_convs for t in c.turns]
        _, tokenizer = load_base(recipe.model, corpus=corpus, seed=recipe.seed)
        train_set = tokenize_conversations(tokenizer, train_convs, system_prompt, recipe.max_seq_len)
        eval_set = tokenize_conversations(tokenizer, eval_convs, system_prompt, recipe.max_seq_len)
        steps = math.ceil(len(train_set) / recipe.effective_batch)
        print(f"{args.model}: {len(train_set)} {args.procedure} conversations, {steps} steps of "
              f"{recipe.effective_batch} conversations (ours: {recipe.per_device_batch} x {recipe.grad_accum}, "
              f"packed={recipe.packing}; TRL: packed rows of {recipe.max_seq_len}; Trainer: {args.trainer_batch} x "
              f"{recipe.effective_batch // args.trainer_batch}, padded); matmuls in {precision} for all three, peak {precision} matmul {peak / 1e9:.0f} GFLOP/s")

        ours = ours_trainer(recipe, train_convs, eval_convs, eval_set, system_prompt, work)
        trl = trl_sft_trainer(recipe, train_set, eval_set, corpus, steps, work)
        hf = padded_trainer(recipe, train_set, eval_set, corpus, steps, args.trainer_batch, work)
        parameters = sum(p.numel() for p in load_base(recipe.model, corpus=corpus, seed=recipe.seed)[0].parameters())
        for m in (ours, trl, hf):
            assert m.useful == ours.useful, (m.name, m.useful, ours.useful)
            print(f"  {m.name:15s} {m.rate:8.1f} useful tok/s  eval loss {m.eval_loss:.4f} after {m.steps} steps  "
                  f"MFU {100 * m.mfu(parameters, peak):5.1f} %  ({m.useful} useful of {m.padded} fed tokens"
                  f"{', incl. padding' if m.padded > m.fed else ''}; {m.seconds:.0f} s)")
        print(f"useful tokens/s vs padded Trainer: {ours.rate / hf.rate:.2f}x")
        print(f"useful tokens/s vs TRL SFTTrainer: {ours.rate / trl.rate:.2f}x "
              f"(ours MFU {100 * ours.mfu(parameters, peak):.1f} %, TRL MFU {100 * trl.mfu(parameters, peak):.1f} %)")


if __name__ == "__main__":
    main()
