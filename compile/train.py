"""Full-parameter fine-tuning of the agent on synthetic conversations (paper §2, §4.1-4.3).

    result = train(load_recipe("tiny-cpu"), train_conversations, eval_conversations,
                   system_prompt="You are a helpful travel booking assistant.", out_dir=Path("run"))

    python -m compile.train --recipe smollm2-135m --data DATASET_DIR --system-prompt "..." --out RUN_DIR
    # several processes (GPUs, or CPU processes over gloo): compile.launch runs this command
    # under `accelerate launch` or `torchrun`; the loop below is the same in every process.

The loop reads top to bottom: setup, data, model, optimizer and schedule, resume; then per
optimizer step: micro-batches (gradient accumulation) -> clip -> step -> eval -> best
checkpoint -> resume point -> early stop. Every parameter trains (never LoRA). It is one
module (over 300 lines) on purpose, like nanoGPT's train.py: the loop is read in one sitting.

The loss is the mean over all assistant tokens of the optimizer step (every micro-batch and
every process), so a step of long conversations weighs each token as much as a step of short
ones. Logits are computed only at positions whose next token is an assistant token, and the
loss reads them in fp32 chunks (compile.token_loss).

out_dir:
    best/           model + tokenizer (save_pretrained) with the lowest eval loss: the product
    state/          the last resume point (accelerate state: model, optimizer, RNG; scheduler;
                    progress), removed when training finishes
    training.json   the TrainResult
    logs/           rank<N>.log per process when launched (compile.launch); rank<N>.failed on error
A run killed at any point and started again with the same arguments carries on from state/
and ends with the weights an uninterrupted run would have had.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from compile.base_model import load_base
from compile.dataset import (
    MicroBatch,
    TokenizedConversation,
    collate,
    epoch_batches,
    tokenize_conversations,
)
from compile.launch import FAILED_SUFFIX, LOGS_DIR, RESULT_FILE, accelerate_mixed_precision
from compile.packed_attention import PACKED_ATTENTION
from compile.recipe import Recipe, load_recipe, parse_overrides
from compile.store import fingerprint
from compile.token_loss import summed_cross_entropy
from compile.training_result import EvalPoint, TrainResult
from harness.tool_format import turn_message
from harness.transcript import Conversation, read_jsonl

__all__ = ["EvalPoint", "TrainResult", "main", "stops_early", "train"]

log = logging.getLogger(__name__)
FAULT_ENV = "SUBTERRA_TRAIN_FAULT"    # "RANK:STEP": that rank raises after that step (tests)
STATE_COMPLETE = "complete"           # written last into a resume point


@dataclass
class RunProgress:
    """Everything about the run that is not a tensor; saved with each resume point."""

    run_key: str = ""
    step: int = 0
    best_eval_loss: float = math.inf
    best_step: int = 0
    evals_without_gain: int = 0
    curve: list[dict] = field(default_factory=list)
    train_tokens: int = 0
    input_tokens: int = 0
    seconds: float = 0.0
    step_seconds: float = 0.0
    loss_since_eval: float = 0.0
    tokens_since_eval: int = 0

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def train(recipe: Recipe, train_conversations: Sequence[Conversation], eval_conversations: Sequence[Conversation],
          *, system_prompt: str, out_dir: Path, show_progress: bool | None = None,
          on_step: Callable[[int], None] | None = None) -> TrainResult:
    """Fine-tune `recipe`'s model on the agent turns of `train_conversations`, keep the checkpoint
    with the lowest loss on `eval_conversations`, and return what happened.

    `on_step(step)` runs after each completed optimizer step (eval and resume point included);
    tests raise from it to stand in for a kill.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)

    # --- setup: one process per device; rank 0 logs and writes -------------------------------
    from accelerate import Accelerator
    from accelerate.utils import DeepSpeedPlugin, set_seed

    if recipe.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"recipe {recipe.name!r} trains on CUDA GPUs and this machine has none; "
                           "check it on the CPU with recipe.dry_run() (or `--set device=cpu` for a small model)")
    on_cuda = recipe.device == "cuda" or (recipe.device == "auto" and torch.cuda.is_available())
    ds_config = recipe.deepspeed_config()
    if recipe.world_size == 1:
        # accelerate keeps its state per process and refuses a second Accelerator with another
        # precision; a gate compiles several recipes in one process (transformers' Trainer
        # resets it the same way).
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)
    from accelerate.utils import InitProcessGroupKwargs, ProjectConfiguration

    # bf16 autocast on the CPU is the trainer's own (_loss_sum), not accelerate's: accelerate's
    # wrapper also casts the model's outputs to fp32, a copy of the (agent tokens x vocabulary)
    # logits and of their gradient every step, and the loss reads bf16 logits in fp32 itself.
    autocast = not on_cuda and recipe.cpu_autocast == "bf16"
    accelerator = Accelerator(
        # accelerate takes its DeepSpeed path only off `cpu`, and finds no backend on a machine
        # without GPUs: there the ranks meet over gloo (the launcher set DS_ACCELERATOR=cpu)
        cpu=not on_cuda and not ds_config,
        # every machine writes its resume point (RNG states, scheduler, progress) into its own folder
        project_config=ProjectConfiguration(save_on_each_node=True),
        kwargs_handlers=[InitProcessGroupKwargs(backend="gloo")] if ds_config and not on_cuda else None,
        mixed_precision=accelerate_mixed_precision(recipe),
        gradient_accumulation_steps=recipe.grad_accum,
        deepspeed_plugin=DeepSpeedPlugin(hf_ds_config=ds_config, gradient_accumulation_steps=recipe.grad_accum,
                                         gradient_clipping=recipe.grad_clip, zero3_init_flag=True)
        if ds_config else None,
    )
    if ds_config:  # no DataLoader goes through prepare(), so DeepSpeed is told the micro-batch here
        accelerator.state.deepspeed_plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = recipe.per_device_batch
    main_process, rank, world = accelerator.is_main_process, accelerator.process_index, accelerator.num_processes
    if world != recipe.world_size:
        raise RuntimeError(f"recipe {recipe.name!r} trains on {recipe.world_size} processes but this run has {world}: "
                           "start it through compile.launch (accelerate launch / torchrun)")
    set_seed(recipe.seed)
    # Each machine keeps its own run folder (its ranks' resume point; the checkpoint is machine
    # 0's), so folders are tended by each machine's first process (the main one on one machine).
    if accelerator.is_local_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in ("best", "state"):
            _recover_dir(out_dir / name)
    accelerator.wait_for_everyone()

    # --- data: the chat template with only the system prompt, labels on agent turns ----------
    # As the model reads them: tool calls and results in their text convention (harness.tool_format).
    corpus = [system_prompt] + [turn_message(turn)["content"] for conv in train_conversations for turn in conv.turns]
    model, tokenizer = load_base(recipe.model, corpus=corpus, seed=recipe.seed)
    if recipe.packing and not on_cuda and model.config._attn_implementation == "sdpa":
        # sdpa on a packed row computes every masked score across conversations; this attends
        # within each one (checkpoints never record the switch: it is not serialised)
        model.set_attn_implementation(PACKED_ATTENTION)
    train_set = tokenize_conversations(tokenizer, train_conversations, system_prompt, recipe.max_seq_len)
    eval_set = tokenize_conversations(tokenizer, eval_conversations, system_prompt, recipe.max_seq_len)
    if not train_set or not eval_set:
        raise ValueError(f"training needs conversations with agent turns in both splits; got {len(train_set)} "
                         f"train and {len(eval_set)} eval (the best checkpoint is chosen by eval loss)")
    micro_per_epoch = len(epoch_batches(len(train_set), recipe.per_device_batch, seed=recipe.seed, epoch=0,
                                        rank=rank, world_size=world))
    if micro_per_epoch == 0:
        raise ValueError(f"{len(train_set)} training conversations do not give one micro-batch of "
                         f"{recipe.per_device_batch} to each of {world} processes")
    steps_per_epoch = math.ceil(micro_per_epoch / recipe.grad_accum)
    total_steps = steps_per_epoch * recipe.epochs
    if recipe.max_steps is not None:
        total_steps = min(total_steps, recipe.max_steps)
    pad_id = tokenizer.pad_token_id

    # --- optimizer and schedule: AdamW (8-bit on CUDA if asked), linear warmup, cosine decay --
    from transformers import get_cosine_schedule_with_warmup

    optimizer = _optimizer(recipe, model, on_cuda, deepspeed=ds_config is not None)
    scheduler = get_cosine_schedule_with_warmup(optimizer, math.ceil(recipe.warmup_ratio * total_steps), total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    progress = RunProgress(run_key=fingerprint(
        recipe=recipe.model_dump(mode="json", exclude={"name", "description"}), system_prompt=system_prompt,
        train=[c.id for c in train_conversations], eval=[c.id for c in eval_conversations]))
    accelerator.register_for_checkpointing(scheduler, progress)

    engine = f"DeepSpeed ZeRO-{accelerator.state.deepspeed_plugin.zero_stage}" if ds_config else \
        (f"DDP over {accelerator.state.backend}" if world > 1 else "one process")
    _log(main_process, "training %s on %d process%s (%s, %s): %d steps of %d conversations", recipe.name, world,
         "" if world == 1 else "es", engine, accelerator.device, total_steps, recipe.effective_batch)

    # --- resume from the last resume point, if a killed run left one --------------------------
    state_dir, best_dir = out_dir / "state", out_dir / "best"
    resumed_from = None
    if (state_dir / STATE_COMPLETE).is_file():
        run_key = progress.run_key
        accelerator.load_state(str(state_dir))
        if progress.run_key != run_key:
            raise ValueError(f"{out_dir} holds a resume point of a different recipe or dataset; "
                             "delete it or train into a new folder")
        resumed_from = progress.step
        _log(main_process, "resuming at step %d/%d from %s", progress.step, total_steps, state_dir)
    else:  # the base model's eval loss, for the curve (the best checkpoint is a trained one)
        loss = evaluate(model, eval_set, recipe, accelerator, pad_id, autocast=autocast)
        progress.curve.append(EvalPoint(step=0, epoch=0.0, eval_loss=loss).model_dump())
        _log(main_process, "step 0/%d: eval loss %.4f (base model)", total_steps, loss)

    # --- the loop --------------------------------------------------------------------------
    stopped_early = False
    seconds_before = progress.seconds        # spent by a killed run before this one resumed it
    parameters = sum(getattr(p, "ds_numel", p.numel()) for p in accelerator.unwrap_model(model).parameters())
    with _progress_bar(main_process, show_progress, total_steps, progress.step) as bar:
        while progress.step < total_steps and not stopped_early:
            step_started = time.perf_counter()
            epoch, step_in_epoch = divmod(progress.step, steps_per_epoch)
            batches = epoch_batches(len(train_set), recipe.per_device_batch, seed=recipe.seed, epoch=epoch,
                                    rank=rank, world_size=world)
            group = batches[step_in_epoch * recipe.grad_accum:(step_in_epoch + 1) * recipe.grad_accum]
            micro = [collate([train_set[i] for i in b], packing=recipe.packing, pad_token_id=pad_id) for b in group]
            counts = accelerator.reduce(torch.tensor([sum(m.n_targets for m in micro),
                                                      sum(m.n_input_tokens for m in micro)],
                                                     device=accelerator.device), "sum")
            step_tokens, step_inputs = int(counts[0]), int(counts[1])
            # accelerate divides by grad_accum and DDP/DeepSpeed average over processes; undo
            # both so the gradient is that of (sum of token losses) / (tokens in the step).
            scale = recipe.grad_accum * world / step_tokens
            step_loss = 0.0
            for i, batch in enumerate(micro):
                last = i == len(micro) - 1
                accelerator.sync_gradients = last  # all-reduce (and DeepSpeed's step) on the last one
                with contextlib.nullcontext() if last else accelerator.no_sync(model):
                    loss_sum = _loss_sum(model, batch.to(accelerator.device), autocast=autocast)
                    accelerator.backward(loss_sum * scale)
                step_loss += loss_sum.item()
            if recipe.grad_clip is not None and not ds_config:  # DeepSpeed clips inside its step
                accelerator.clip_grad_norm_(model.parameters(), recipe.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)

            progress.step += 1
            progress.train_tokens += step_tokens
            progress.input_tokens += step_inputs
            progress.loss_since_eval += float(accelerator.reduce(torch.tensor(step_loss, device=accelerator.device),
                                                                 "sum"))
            progress.tokens_since_eval += step_tokens
            progress.step_seconds += time.perf_counter() - step_started
            bar(progress.step, progress.train_tokens / max(progress.step_seconds, 1e-9))

            at_epoch_end = progress.step % steps_per_epoch == 0
            due = (progress.step % recipe.eval_every_steps == 0) if recipe.eval_every_steps else at_epoch_end
            if due or progress.step == total_steps:
                loss = evaluate(model, eval_set, recipe, accelerator, pad_id, autocast=autocast)
                train_loss = progress.loss_since_eval / max(progress.tokens_since_eval, 1)
                point = EvalPoint(step=progress.step, epoch=round(progress.step / steps_per_epoch, 3),
                                  eval_loss=loss, train_loss=train_loss)
                progress.curve.append(point.model_dump())
                progress.loss_since_eval, progress.tokens_since_eval = 0.0, 0
                improved = loss < progress.best_eval_loss
                if improved:
                    progress.best_eval_loss, progress.best_step, progress.evals_without_gain = loss, progress.step, 0
                    _save_pretrained(accelerator, model, tokenizer, best_dir)
                else:
                    progress.evals_without_gain += 1
                stopped_early = stops_early(progress.evals_without_gain, recipe.early_stopping_patience,
                                            step=progress.step, total_steps=total_steps)
                _log(main_process, "step %d/%d epoch %.2f: eval loss %.4f, train loss %.4f, %.0f tok/s%s",
                     progress.step, total_steps, point.epoch, loss, train_loss,
                     progress.train_tokens / max(progress.step_seconds, 1e-9),
                     " (best)" if improved else " (early stop)" if stopped_early else "")
            if (due or (recipe.save_every_steps and progress.step % recipe.save_every_steps == 0)) \
                    and progress.step < total_steps and not stopped_early:
                progress.seconds = seconds_before + time.perf_counter() - started
                _save_state(accelerator, state_dir)
            if on_step is not None:
                on_step(progress.step)

    # --- the result --------------------------------------------------------------------------
    accelerator.wait_for_everyone()
    result = TrainResult(
        recipe=recipe.name, checkpoint=best_dir.resolve(), best_eval_loss=progress.best_eval_loss,
        best_step=progress.best_step, initial_eval_loss=progress.curve[0]["eval_loss"],
        curve=[EvalPoint.model_validate(p) for p in progress.curve], steps=progress.step,
        epochs=round(progress.step / steps_per_epoch, 3), train_tokens=progress.train_tokens,
        input_tokens=progress.input_tokens,
        seconds=round(seconds_before + time.perf_counter() - started, 3),
        tokens_per_second=round(progress.train_tokens / max(progress.step_seconds, 1e-9), 1),
        stopped_early=stopped_early, resumed_from_step=resumed_from, parameters=parameters, processes=world)
    if main_process:
        (out_dir / RESULT_FILE).write_text(result.model_dump_json(indent=2), encoding="utf-8")
    if accelerator.is_local_main_process:
        shutil.rmtree(state_dir, ignore_errors=True)
    accelerator.wait_for_everyone()
    if world > 1:
        accelerator.end_training()     # leave the process group: gloo's threads can abort a rank at exit
    return result


def stops_early(evals_without_gain: int, patience: int | None, *, step: int, total_steps: int) -> bool:
    """Whether patience ends training before its planned last step. Patience running out at
    the last step stops nothing: the run is complete, and is not reported as stopped early."""
    return patience is not None and evals_without_gain >= patience and step < total_steps


def _loss_sum(model: Any, batch: MicroBatch, *, autocast: bool = False) -> torch.Tensor:
    """Summed next-token loss over the batch's assistant tokens; logits only where needed, the
    forward pass under CPU bf16 autocast if asked."""
    with torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext():
        logits = model(**batch.model_inputs(), use_cache=False).logits     # (n_targets, vocab)
    return summed_cross_entropy(logits, batch.targets)


@torch.no_grad()
def evaluate(model: Any, examples: Sequence[TokenizedConversation], recipe: Recipe, accelerator: Any,
             pad_token_id: int, *, autocast: bool = False) -> float:
    """Mean loss per assistant token over `examples`, across all processes."""
    model.eval()
    batches = epoch_batches(len(examples), recipe.per_device_batch, seed=recipe.seed, epoch=0, shuffle=False)
    rank, world = accelerator.process_index, accelerator.num_processes
    # Every process runs the same number of forwards (ZeRO-3 gathers weights collectively);
    # a process short of work repeats batch 0 and does not count it.
    mine = list(range(rank, len(batches), world))
    rounds = math.ceil(len(batches) / world)
    totals = torch.zeros(2, dtype=torch.float64, device=accelerator.device)
    for k in range(rounds):
        index = mine[k] if k < len(mine) else 0
        batch = collate([examples[i] for i in batches[index]], packing=recipe.packing, pad_token_id=pad_token_id)
        loss = _loss_sum(model, batch.to(accelerator.device), autocast=autocast)
        if k < len(mine):
            totals += torch.tensor([loss.item(), batch.n_targets], dtype=torch.float64, device=accelerator.device)
    totals = accelerator.reduce(totals, "sum")
    model.train()
    return float(totals[0] / totals[1])


def _optimizer(recipe: Recipe, model: Any, on_cuda: bool, *, deepspeed: bool) -> torch.optim.Optimizer:
    # Weight decay on matrices only, the usual rule (norm gains and biases are left alone).
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": recipe.weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    if recipe.optimizer == "adamw_8bit":
        if not on_cuda:
            raise RuntimeError(f"recipe {recipe.name!r} asks for optimizer adamw_8bit (bitsandbytes), which needs "
                               "a CUDA device; this run is on the CPU. Use optimizer 'adamw' or recipe.dry_run()")
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise RuntimeError("optimizer adamw_8bit needs bitsandbytes, which is not installed: "
                               "pip install 'subterra[gpu]' (or pip install bitsandbytes)") from None
        return bnb.optim.AdamW8bit(groups, lr=recipe.lr, betas=recipe.betas)
    # The fused kernel (CPU and CUDA) updates each tensor in one pass instead of a dozen
    # elementwise ops; DeepSpeed steps its own flattened partitions, so it keeps the default.
    fused = not deepspeed and all(p.dtype in (torch.float32, torch.bfloat16) for p in params)
    return torch.optim.AdamW(groups, lr=recipe.lr, betas=recipe.betas, fused=fused or None)


def _replace_dir(new: Path, target: Path) -> None:
    """Swap `new` into `target` by renames, so a kill leaves one whole copy (see _recover_dir)."""
    old = target.with_name(target.name + ".old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.rename(target, old)
    os.rename(new, target)
    shutil.rmtree(old, ignore_errors=True)


def _recover_dir(target: Path) -> None:
    old = target.with_name(target.name + ".old")
    if not target.exists() and old.exists():     # killed between the two renames above
        os.rename(old, target)
    shutil.rmtree(target.with_name(target.name + ".tmp"), ignore_errors=True)


def _save_pretrained(accelerator: Any, model: Any, tokenizer: Any, target: Path) -> None:
    state_dict = accelerator.get_state_dict(model)     # collective: gathers ZeRO-3 shards
    if accelerator.is_main_process:
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        accelerator.unwrap_model(model).save_pretrained(tmp, state_dict=state_dict)
        tokenizer.save_pretrained(tmp)
        _replace_dir(tmp, target)
    accelerator.wait_for_everyone()


def _save_state(accelerator: Any, target: Path) -> None:
    tmp = target.with_name(target.name + ".tmp")
    if accelerator.is_local_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_local_main_process:
        # Written last: a resume point counts only once everything else in it is on disk.
        (tmp / STATE_COMPLETE).write_text("", encoding="utf-8")
        _replace_dir(tmp, target)
    accelerator.wait_for_everyone()


def _log(main_process: bool, message: str, *args: Any) -> None:
    if main_process:
        log.info(message, *args)


@contextlib.contextmanager
def _progress_bar(main_process: bool, show: bool | None, total: int, done: int
                  ) -> Iterator[Callable[[int, float], None]]:
    show = main_process and (sys.stderr.isatty() if show is None else show)
    with Progress(TextColumn("[bold]train[/]"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), disable=not show) as bar:
        task = bar.add_task("steps", total=total, completed=done, rate="")

        def update(step: int, tokens_per_second: float) -> None:
            bar.update(task, completed=step, rate=f"{tokens_per_second:,.0f} tok/s")

        yield update


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m compile.train`: the entry point every launcher runs (once per process)."""
    parser = argparse.ArgumentParser(prog="python -m compile.train", description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", required=True, help="a recipe name (compile/recipes/) or a recipe file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe field")
    parser.add_argument("--data", required=True, type=Path, help="folder with train.jsonl and eval.jsonl")
    parser.add_argument("--system-prompt", required=True)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))          # set by torchrun (and accelerate's launch of it)
    launched = "LOCAL_RANK" in os.environ
    logs = args.out / LOGS_DIR
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", force=True)
    logging.getLogger("accelerate").setLevel(logging.WARNING)      # a line per file of each resume point
    logging.getLogger("accelerate.utils.other").setLevel(logging.ERROR)   # "Removed shared tensor" (tied embeddings)
    # DeepSpeed 0.19 calls torch collectives that torch 2.13 renamed, once per step and rank
    warnings.filterwarnings("ignore", message=r"`torch\.distributed\.\w+` is deprecated", category=FutureWarning)
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()     # "Writing model shards" at each best checkpoint
    if launched:
        logs.mkdir(parents=True, exist_ok=True)
        _log_to_file(logs / f"rank{rank}.log", all_output=rank != 0)
    try:
        recipe = load_recipe(args.recipe, parse_overrides(args.set))
        splits = {name: read_jsonl(args.data / f"{name}.jsonl", Conversation) for name in ("train", "eval")}
        result = train(recipe, splits["train"], splits["eval"], system_prompt=args.system_prompt, out_dir=args.out,
                       on_step=_injected_fault(rank))
    except Exception as error:
        if launched:     # the launcher's parent names this rank and shows its log (compile.launch)
            import traceback

            (logs / f"rank{rank}{FAILED_SUFFIX}").write_text(
                traceback.format_exc() + f"{type(error).__name__}: {error}\n", encoding="utf-8")
        raise
    if rank == 0:
        print(f"result: {args.out / RESULT_FILE} (best eval loss {result.best_eval_loss:.4f} at step {result.best_step})")
    return 0


def _log_to_file(path: Path, *, all_output: bool) -> None:
    """Rank 0 keeps the terminal and copies its log lines to `path`; the other ranks write
    everything (their log, warnings, tracebacks, native libraries' prints) to `path` only."""
    handle = path.open("a", encoding="utf-8", buffering=1)
    handle.write(f"--- pid {os.getpid()} started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    if all_output:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)       # the root logger's handler writes to fd 2 too
        return
    file_handler = logging.StreamHandler(handle)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(file_handler)


def _injected_fault(rank: int) -> Callable[[int], None] | None:
    """`SUBTERRA_TRAIN_FAULT=RANK:STEP`: that rank fails after that optimizer step, as a crash in
    one process would (the launcher tests use it); unset, nothing."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return None
    fault_rank, _, fault_step = spec.partition(":")
    if int(fault_rank) != rank:
        return None

    def fail(step: int) -> None:
        if step == int(fault_step):
            raise RuntimeError(f"fault injected by {FAULT_ENV}={spec} after step {step}")
    return fail


if __name__ == "__main__":
    sys.exit(main())
