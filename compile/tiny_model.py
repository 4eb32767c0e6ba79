"""A few-million-parameter Llama trained from scratch, with a BPE tokenizer learnt from the corpus.

This is the offline stand-in for a pretrained base model: it knows no language before training,
so what it says afterwards it learnt from the procedure's conversations alone. It goes through
the same chat template, dataset and trainer as the real models (ChatML, like SmolLM2 and Qwen).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, model_validator

# torch, tokenizers and transformers load inside the functions that build: recipes name a
# TinyModelConfig, and loading a recipe (a suite, `validate`) must not import torch.
if TYPE_CHECKING:
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

__all__ = ["PAD", "SPECIAL_TOKENS", "TinyModelConfig", "build_tiny_model", "train_tokenizer"]

PAD, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [PAD, IM_START, IM_END]


class TinyModelConfig(BaseModel):
    """Sizes of the from-scratch model; the defaults give ~3.7M parameters."""

    vocab_size: int = Field(default=2048, ge=len(SPECIAL_TOKENS) + 256)  # + the 256 byte symbols
    hidden_size: int = Field(default=256, ge=8)
    intermediate_size: int = Field(default=688, ge=8)
    num_layers: int = Field(default=4, ge=1)
    num_heads: int = Field(default=4, ge=1)
    num_kv_heads: int = Field(default=4, ge=1)
    max_position_embeddings: int = Field(default=2048, ge=16)

    @model_validator(mode="after")
    def _heads_divide(self) -> TinyModelConfig:
        if self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be a multiple of num_heads ({self.num_heads}), "
                f"and num_heads a multiple of num_kv_heads ({self.num_kv_heads})"
            )
        return self


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer learnt from `texts`, with ChatML special tokens and template.

    Byte-level: every string encodes (no unknown token), whatever the corpus lacked.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from harness.llm.weights import CHATML_TEMPLATE

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=IM_END, pad_token=PAD,
                                   additional_special_tokens=[IM_START])
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_tiny_model(config: TinyModelConfig, tokenizer: PreTrainedTokenizerFast, *, seed: int,
                     attention: str = "sdpa") -> LlamaForCausalLM:
    """A freshly initialised LlamaForCausalLM sized by `config` for `tokenizer`'s vocabulary."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    llama = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size, num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads, num_key_value_heads=config.num_kv_heads,
        max_position_embeddings=config.max_position_embeddings, tie_word_embeddings=True,
        bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        attn_implementation=attention,
    )
    with torch.random.fork_rng():            # same weights for the same seed, whatever ran before
        torch.manual_seed(seed)
        model = LlamaForCausalLM(llama)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model
