"""A compiled model as a standard Hugging Face directory, ready for any engine to serve.

    export_model(compiled, Path("exports/travel"))

writes::

    config.json, model.safetensors      the checkpoint's weights, copied byte for byte
    tokenizer.json, tokenizer_config.json, chat_template.jinja
                                        the tokenizer; its chat template renders exactly the
                                        training format, and puts the trained system prompt
                                        first when a conversation brings none
    generation_config.json              greedy decoding (as the gate decodes), stopping at the
                                        end-of-turn token, at most the agent's turn length
    system_prompt.txt                   the minimal system prompt the model was trained with
    subterra.json                       procedure, fingerprints, recipe, figures (machine-readable)
    README.md                           the model card

Plain `transformers.AutoModelForCausalLM.from_pretrained(DIR)` and `AutoTokenizer` load it;
`transformers serve DIR` and vLLM serve it as it is.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from compile.pipeline import CompiledModel
from harness.conditions.orchestrated import AGENT_MAX_TOKENS

__all__ = ["EXPORT_INFO", "SYSTEM_PROMPT_FILE", "ExportInfo", "default_system_template", "export_model"]

SYSTEM_PROMPT_FILE = "system_prompt.txt"
EXPORT_INFO = "subterra.json"
_WEIGHT_PATTERNS = ("*.safetensors", "model.safetensors.index.json", "config.json")


class ExportInfo(BaseModel):
    """What `subterra.json` records about an exported model."""

    procedure: str
    title: str
    model_fingerprint: str
    dataset_fingerprint: str
    recipe: str
    system_prompt: str
    train_conversations: int
    eval_conversations: int
    turns: int
    datagen_model: str
    steps: int | None
    parameters: int | None
    initial_eval_loss: float | None
    best_eval_loss: float | None
    max_new_tokens: int
    # The procedure's YAML as the exporter named it (relative to where it ran, when under it):
    # what `subterra serve` tells to gate the endpoint with. None: not known.
    source: str | None = None


def default_system_template(template: str, system_prompt: str) -> str:
    """`template` with `system_prompt` as the system message of any conversation that has none.

    A conversation that already starts with a system message renders exactly as before.
    The prompt goes in as a JSON string literal, which Jinja reads back verbatim.
    """
    literal = json.dumps(system_prompt, ensure_ascii=False)
    return (
        "{%- if not messages or messages[0]['role'] != 'system' -%}"
        f"{{%- set messages = [{{'role': 'system', 'content': {literal}}}] + messages -%}}"
        "{%- endif -%}"
        + template
    )


def export_model(compiled: CompiledModel, out_dir: Path, *, gate_results: str | None = None,
                 source: Path | None = None) -> Path:
    """Write `compiled` as a Hugging Face directory at `out_dir` (replaced if it exists).

    `gate_results`: a Markdown section on the latest gate results for this model, when the
    caller found some (the results store belongs to the gate layer, above this one).
    `source`: the procedure's YAML file, recorded in `subterra.json`.
    """
    from transformers import AutoTokenizer, GenerationConfig

    checkpoint = compiled.checkpoint
    if not any(checkpoint.glob("*.safetensors")):
        raise FileNotFoundError(f"{checkpoint}: no safetensors weights to export")
    system_prompt = compiled.procedure.system_prompt
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)

    for pattern in _WEIGHT_PATTERNS:
        for path in sorted(checkpoint.glob(pattern)):
            shutil.copyfile(path, tmp / path.name)

    tokenizer = AutoTokenizer.from_pretrained(str(checkpoint), local_files_only=True)
    if not tokenizer.chat_template:
        raise ValueError(f"{checkpoint}: the trained tokenizer has no chat template")
    tokenizer.chat_template = default_system_template(tokenizer.chat_template, system_prompt)
    tokenizer.save_pretrained(str(tmp))

    generation = GenerationConfig.from_pretrained(str(checkpoint), local_files_only=True)
    _greedy(generation, tokenizer)
    generation.save_pretrained(str(tmp))

    info = _info(compiled, generation.max_new_tokens).model_copy(
        update={"source": _as_given(source) if source is not None else None})
    (tmp / SYSTEM_PROMPT_FILE).write_text(system_prompt, encoding="utf-8")
    (tmp / EXPORT_INFO).write_text(info.model_dump_json(indent=2) + "\n", encoding="utf-8")
    (tmp / "README.md").write_text(model_card(info, gate_results), encoding="utf-8")

    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir


def _greedy(generation: Any, tokenizer: Any) -> None:
    """Greedy decoding that stops where the local provider stops (model eos + tokenizer eos)."""
    eos = generation.eos_token_id
    stops = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        stops.add(tokenizer.eos_token_id)
    generation.eos_token_id = sorted(stops) if len(stops) > 1 else next(iter(stops), None)
    generation.pad_token_id = tokenizer.pad_token_id
    generation.do_sample = False
    for sampling in ("temperature", "top_p", "top_k", "min_p", "typical_p"):
        setattr(generation, sampling, None)
    generation.repetition_penalty = None
    generation.max_new_tokens = AGENT_MAX_TOKENS


def _info(compiled: CompiledModel, max_new_tokens: int) -> ExportInfo:
    procedure, training, data = compiled.procedure, compiled.training, compiled.datagen
    return ExportInfo(
        procedure=procedure.name, title=procedure.title,
        model_fingerprint=compiled.model_fingerprint, dataset_fingerprint=compiled.dataset_fingerprint,
        recipe=compiled.recipe, system_prompt=procedure.system_prompt,
        train_conversations=data.train, eval_conversations=data.eval, turns=data.turns,
        datagen_model=data.model, steps=training.steps, parameters=training.parameters,
        initial_eval_loss=training.initial_eval_loss, best_eval_loss=training.best_eval_loss,
        max_new_tokens=max_new_tokens,
    )


def _as_given(path: Path) -> str:
    """`path` relative to the working directory when it lies under it, else absolute."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(resolved)


def _loss(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def model_card(info: ExportInfo, gate_results: str | None) -> str:
    """The README.md of an exported model."""
    offline = " (offline stand-in generator: scripted conversations, not a real LLM)" if \
        "offline" in info.datagen_model else ""
    gate = gate_results or "No gate results for this model's fingerprint were found in the results store."
    return f"""# {info.procedure}: {info.title}

A model compiled by subterra: the `{info.procedure}` procedure lives in its weights. It needs
only the minimal system prompt below, no flowchart and no orchestration.

| | |
|---|---|
| procedure | `{info.procedure}` |
| model fingerprint | `{info.model_fingerprint}` |
| dataset fingerprint | `{info.dataset_fingerprint}` |
| recipe | `{info.recipe}` |
| parameters | {info.parameters if info.parameters is not None else "n/a"} |
| training data | {info.train_conversations} train / {info.eval_conversations} eval conversations, {info.turns} turns, generated by `{info.datagen_model}`{offline} |
| training steps | {info.steps if info.steps is not None else "n/a"} |
| eval loss | {_loss(info.initial_eval_loss)} before training, {_loss(info.best_eval_loss)} best (assistant tokens, held-out conversations) |

## System prompt

The model was trained with exactly this system prompt (also in `{SYSTEM_PROMPT_FILE}`). The
chat template puts it first when a conversation has no system message, so clients may send
only the customer and agent turns.

```text
{info.system_prompt}
```

## Decoding

`generation_config.json` decodes greedily (as the gate does), stops at the end-of-turn token,
and caps a reply at {info.max_new_tokens} tokens. Send `temperature: 0` to an OpenAI-compatible
server to decode the same way.

## Gate results

{gate}

## Serve it

```bash
subterra serve DIR        # DIR: this folder; prints the base URL and the model name
transformers serve DIR    # or any engine that reads Hugging Face folders (vllm serve DIR)
```
"""
