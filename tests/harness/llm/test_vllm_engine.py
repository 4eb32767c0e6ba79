"""The vllm provider's request handling, without vLLM or a GPU: a stand-in engine at the seam.

The stand-in decodes greedily with a tiny transformers model, the way vLLM decodes a
temperature-0 request: what is checked is what the provider does around it (prompts from
the chat template, one engine call per batch, sampling parameters, usage), by comparing with
the local provider on the same weights.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from harness.llm import ChatRequest, ConfigurationError, Message, get_model
from harness.llm.local import LocalModel
from harness.llm.vllm_engine import VLLMModel, vllm_unavailable_reason
from tests.conftest import tiny_model


class GreedyEngine:
    """vLLM's `LLM.generate` / `get_tokenizer` over a transformers model (temperature 0 only)."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.calls: list[tuple[list[dict], list[dict]]] = []

    def get_tokenizer(self) -> Any:
        return self.tokenizer

    def generate(self, prompts: list[dict], params: list[dict], *, use_tqdm: bool) -> list[Any]:
        self.calls.append((prompts, params))
        outputs = []
        for prompt, param in zip(prompts, params, strict=True):
            assert param["temperature"] == 0, "the stand-in decodes greedily only"
            ids = torch.tensor([prompt["prompt_token_ids"]])
            with torch.inference_mode():
                out = self.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                          max_new_tokens=param["max_tokens"],
                                          eos_token_id=self.tokenizer.eos_token_id,
                                          pad_token_id=self.tokenizer.pad_token_id)
            tokens = out[0, ids.shape[1]:].tolist()
            if self.tokenizer.eos_token_id in tokens:   # vLLM stops at eos, keeping it
                tokens = tokens[: tokens.index(self.tokenizer.eos_token_id) + 1]
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            outputs.append(SimpleNamespace(outputs=[SimpleNamespace(text=text, token_ids=tokens)]))
        return outputs


@pytest.fixture(scope="module")
def weights() -> tuple[Any, Any]:
    model, tokenizer = tiny_model(["please reset my password", "your booking is confirmed"], seed=3)
    return model.eval(), tokenizer


def ask(text: str, **fields: Any) -> ChatRequest:
    return ChatRequest(messages=(Message(role="system", content="You help."),
                                 Message(role="user", content=text)), max_tokens=7, **fields)


REQUESTS = [ask("reset my password"), ask("booking"), ask("is it confirmed?", stop=("zz",))]


async def _answer(model: Any, requests: list[ChatRequest]) -> list[Any]:
    try:
        return list(await asyncio.gather(*(model.generate(r) for r in requests)))
    finally:
        await model.aclose()


def test_one_engine_call_per_batch_with_the_local_providers_prompts_and_replies(weights) -> None:
    model, tokenizer = weights
    engine = GreedyEngine(model, tokenizer)
    vllm_model = get_model("vllm:exports/demo", engine=engine, sampling_params=dict)
    served = asyncio.run(_answer(vllm_model, REQUESTS))
    local = asyncio.run(_answer(LocalModel(model=model, tokenizer=tokenizer), REQUESTS))

    assert len(engine.calls) == 1                       # the three requests went together
    prompts, params = engine.calls[0]
    expected = [tokenizer.apply_chat_template([m.model_dump() for m in r.messages],
                                              add_generation_prompt=True, return_dict=False)
                for r in REQUESTS]
    assert [p["prompt_token_ids"] for p in prompts] == expected
    assert params[2] == {"max_tokens": 7, "temperature": 0.0, "stop": ["zz"]}
    assert [r.text for r in served] == [r.text for r in local]
    assert [r.usage for r in served] == [r.usage for r in local]
    assert {r.model for r in served} == {"vllm:exports/demo"}
    assert vllm_model.usage.calls == 3
    assert vllm_model.usage.input_tokens == sum(len(p) for p in expected)


def test_sampled_requests_carry_their_own_seed(weights) -> None:
    provider = VLLMModel("demo", engine=GreedyEngine(*weights), sampling_params=dict)
    first, again, other_trial = (provider.sampling_params(ask("hi", temperature=0.7, trial=t))
                                 for t in (0, 0, 1))
    assert first["temperature"] == 0.7 and first["seed"] == again["seed"] != other_trial["seed"]
    assert "seed" not in provider.sampling_params(ask("hi"))


def test_an_engine_error_reaches_every_caller_of_the_batch(weights) -> None:
    engine = GreedyEngine(*weights)
    engine.generate = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("CUDA out of memory"))
    provider = VLLMModel("demo", engine=engine, sampling_params=dict)

    async def run() -> list[Any]:
        try:
            return await asyncio.gather(*(provider.generate(r) for r in REQUESTS),
                                        return_exceptions=True)
        finally:
            await provider.aclose()

    errors = asyncio.run(run())
    assert [str(e) for e in errors] == ["CUDA out of memory"] * 3


@pytest.mark.skipif(vllm_unavailable_reason() is None, reason="vLLM can run here")
def test_without_vllm_or_a_gpu_the_message_says_why() -> None:
    with pytest.raises(ConfigurationError, match=r"provider 'vllm' cannot run: .*(not installed|no CUDA)"):
        get_model("vllm:exports/demo")


def test_an_output_goes_to_vllms_structured_outputs(weights) -> None:
    from harness.llm.base import OutputSchema

    provider = VLLMModel("demo", engine=GreedyEngine(*weights), sampling_params=dict,
                         structured_params=("structured_outputs", dict))
    schema = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}
    assert provider.sampling_params(ask("hi", output=OutputSchema(name="s", json_schema=schema)))[
        "structured_outputs"] == {"json": schema}
    assert provider.sampling_params(ask("hi", output=OutputSchema(name="r", choices=("a", "b"))))[
        "structured_outputs"] == {"choice": ["a", "b"]}
    assert "structured_outputs" not in provider.sampling_params(ask("hi"))
    bare = VLLMModel("demo", engine=GreedyEngine(*weights), sampling_params=dict)
    with pytest.raises(ConfigurationError, match="structured_params"):
        bare.sampling_params(ask("hi", output=OutputSchema(name="r", choices=("a",))))
