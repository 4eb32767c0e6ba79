from __future__ import annotations

import torch

from compile.tiny_model import TinyModelConfig, build_tiny_model, train_tokenizer
from harness.llm.weights import load_causal_lm

CORPUS = ["Hi, welcome to Paws and Suds! Which pet are we pampering today?",
          "This is Biscuit, my dog. I would like a bath."] * 20


def test_tokenizer_is_learnt_deterministically_and_encodes_anything() -> None:
    a, b = train_tokenizer(CORPUS, 300), train_tokenizer(CORPUS, 300)
    assert a.get_vocab() == b.get_vocab() and len(a) <= 300
    unseen = "Ünïcode ✈ and numbers 12345 never seen"
    ids = a.encode(unseen, add_special_tokens=False)
    assert a.decode(ids) == unseen and a.unk_token_id not in ids
    # Words of the corpus become single tokens; the special tokens stay whole.
    assert len(train_tokenizer(CORPUS, 500).encode(" welcome", add_special_tokens=False)) == 1
    assert a.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"]) == [1, 2]
    rendered = a.apply_chat_template([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}],
                                     tokenize=False, add_generation_prompt=True)
    assert rendered == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"


def test_default_size_is_a_few_million_parameters_and_seeded() -> None:
    tokenizer = train_tokenizer(CORPUS, 2048)
    model = build_tiny_model(TinyModelConfig(), tokenizer, seed=0)
    n = sum(p.numel() for p in model.parameters())
    assert 2_000_000 < n < 6_000_000
    small = TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2, num_kv_heads=1)
    torch.manual_seed(123)                                # global RNG state does not matter
    first = build_tiny_model(small, tokenizer, seed=7).state_dict()
    second = build_tiny_model(small, tokenizer, seed=7).state_dict()
    other = build_tiny_model(small, tokenizer, seed=8).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not torch.equal(first["model.layers.0.mlp.up_proj.weight"], other["model.layers.0.mlp.up_proj.weight"])


def test_saved_model_loads_through_the_llm_layer(tmp_path) -> None:
    tokenizer = train_tokenizer(CORPUS, 300)
    small = TinyModelConfig(vocab_size=300, hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2,
                            num_kv_heads=1)
    build_tiny_model(small, tokenizer, seed=0).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    model, loaded = load_causal_lm(tmp_path)
    assert model.config.num_hidden_layers == 1 and loaded.eos_token == "<|im_end|>" and loaded.pad_token == "<|endoftext|>"
    assert loaded.chat_template == tokenizer.chat_template
    assert model.generation_config.eos_token_id == loaded.eos_token_id
