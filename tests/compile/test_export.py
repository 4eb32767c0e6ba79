"""Export a compiled tiny-cpu model; load it with plain transformers and chat; serve it with
`transformers serve` and with the gateway, and run the subterranean condition through the
endpoint, which must give the in-process model's transcripts token for token (greedy decoding)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import torch

from compile.datagen import load_split
from compile.dataset import chat_messages, render_with_spans
from compile.export import EXPORT_INFO, SYSTEM_PROMPT_FILE, default_system_template, export_model
from compile.pipeline import CompiledModel, compile_procedure
from compile.settings import CompileSettings
from compile.store import Store
from harness.conditions import build_condition
from harness.conditions.orchestrated import AGENT_MAX_TOKENS
from harness.llm import get_model
from harness.procedure import load_procedure
from harness.runner import run_conversations
from harness.scenarios import load_scenario_set, sample_scenarios
from harness.servers.model_server import ModelServer
from harness.simulator import UserSimulator
from harness.transcript import Transcript
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

# tiny-cpu shrunk to train in seconds. It learns little, but enough to say different things
# (short replies that end at the end-of-turn token, and replies cut at the length cap).
MICRO = {"epochs": 5, "lr": 1e-2, "early_stopping_patience": None, "model.scratch.hidden_size": 64, "model.scratch.intermediate_size": 128,
         "model.scratch.num_layers": 1, "model.scratch.vocab_size": 512}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> CompiledModel:
    procedure = load_procedure(ROOT / "procedures/zoom.yaml")
    scenarios = load_scenario_set(ROOT / "scenarios/zoom.yaml")
    settings = CompileSettings(recipe="tiny-cpu", overrides=MICRO, n=12)
    return compile_procedure(procedure, scenarios, settings, Store(tmp_path_factory.mktemp("store")))


@pytest.fixture(scope="module")
def exported(compiled: CompiledModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_model(compiled, tmp_path_factory.mktemp("export") / "zoom",
                        gate_results="| subterranean | task_success | 4.2 |", source=ROOT / "procedures/zoom.yaml")


def test_plain_transformers_loads_the_export_and_chats(exported: Path, compiled: CompiledModel) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(exported)
    tokenizer = AutoTokenizer.from_pretrained(exported)
    trained = AutoModelForCausalLM.from_pretrained(compiled.checkpoint)
    for name, weight in trained.state_dict().items():
        assert torch.equal(weight, model.state_dict()[name]), name
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Hi, I need help with Zoom."}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    output = model.generate(**prompt)    # the export's generation config: greedy, capped
    reply = output[0, prompt["input_ids"].shape[1]:]
    assert 0 < len(reply) <= AGENT_MAX_TOKENS
    assert isinstance(tokenizer.decode(reply, skip_special_tokens=True), str)
    assert model.generation_config.do_sample is False
    assert tokenizer.eos_token_id in _as_list(model.generation_config.eos_token_id)


def _as_list(value: int | list[int] | None) -> list[int | None]:
    return value if isinstance(value, list) else [value]


def test_chat_template_renders_the_training_format(exported: Path, compiled: CompiledModel) -> None:
    from transformers import AutoTokenizer

    served = AutoTokenizer.from_pretrained(exported)
    trained = AutoTokenizer.from_pretrained(compiled.checkpoint)
    system_prompt = compiled.procedure.system_prompt
    for conversation in load_split(compiled.dataset_dir, "eval")[:3]:
        messages = chat_messages(conversation, system_prompt)
        training_text, _ = render_with_spans(trained, messages)
        # With the system prompt sent, and without: the served model sees the training text.
        assert served.apply_chat_template(messages, tokenize=False) == training_text
        assert served.apply_chat_template(messages[1:], tokenize=False) == training_text


def test_system_prompt_file_card_and_info(exported: Path, compiled: CompiledModel) -> None:
    system_prompt = compiled.procedure.system_prompt
    assert (exported / SYSTEM_PROMPT_FILE).read_text() == system_prompt
    info = json.loads((exported / EXPORT_INFO).read_text())
    assert info["model_fingerprint"] == compiled.model_fingerprint
    assert info["train_conversations"] == compiled.datagen.train
    assert Path(info["source"]).resolve() == (ROOT / "procedures/zoom.yaml").resolve()
    card = (exported / "README.md").read_text()
    for expected in (compiled.model_fingerprint, "tiny-cpu", system_prompt,
                     f"{compiled.training.best_eval_loss:.4f}", "| subterranean | task_success | 4.2 |"):
        assert expected in card


def test_default_system_prompt_survives_any_characters() -> None:
    import jinja2.sandbox

    from harness.llm.weights import CHATML_TEMPLATE

    prompt = 'Say "hi" {{ not jinja }} {% raw %} 100% \\ back\nslash — naïve 😀 \t end'
    template = default_system_template(CHATML_TEMPLATE, prompt)
    env = jinja2.sandbox.ImmutableSandboxedEnvironment()
    rendered = env.from_string(template).render(messages=[{"role": "user", "content": "x"}],
                                                add_generation_prompt=False)
    assert rendered == f"<|im_start|>system\n{prompt}<|im_end|>\n<|im_start|>user\nx<|im_end|>\n"
    own = [{"role": "system", "content": "other"}, {"role": "user", "content": "x"}]
    assert env.from_string(template).render(messages=own) == env.from_string(CHATML_TEMPLATE).render(messages=own)


def _conversations(model_spec: str, compiled: CompiledModel, n: int = 3) -> list[Transcript]:
    procedure = compiled.procedure
    scenarios = sample_scenarios(load_scenario_set(ROOT / "scenarios/zoom.yaml"), procedure, n, 5)
    model = get_model(model_spec, cache="off")    # answers now, never replayed

    async def run() -> list[Transcript]:
        try:
            return await run_conversations(build_condition("subterranean", procedure, model),
                                           UserSimulator(get_model("offline"), procedure), scenarios,
                                           max_turns=8)
        finally:
            await model.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize("engine", ["transformers", "gateway"])
def test_served_export_gates_like_the_in_process_model(exported: Path, compiled: CompiledModel,
                                                       engine: str) -> None:
    # transformers serve decodes one request at a time; the gateway batches the conversations'
    # concurrent requests, as the gate does in process. Both give the in-process tokens.
    with ModelServer(exported, engine=engine, served_name="zoom", threads=1) as served:
        listed = httpx.get(f"{served.base_url}/models", timeout=10).json()["data"]
        assert [m["id"] for m in listed] == [served.model] == ["zoom"]
        through_endpoint = _conversations(served.spec, compiled)
    in_process = _conversations(compiled.model_spec, compiled)
    assert [t.agent_model for t in through_endpoint] == [served.model] * 3
    for endpoint, local in zip(through_endpoint, in_process, strict=True):
        assert endpoint.turns == local.turns
        assert (endpoint.end_reason, endpoint.terminal) == (local.end_reason, local.terminal)
        assert endpoint.agent_usage == local.agent_usage     # same prompt and reply tokens
    replies = {turn.text for t in in_process for turn in t.turns if turn.speaker == "agent"}
    assert len(replies) >= 2 and all(replies)            # the model says different, non-empty things
