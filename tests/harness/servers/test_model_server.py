"""`ModelServer` with `transformers serve` on a tiny random Llama saved as a plain HF directory
(`tiny_model_dir`, in conftest)."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import httpx
import pytest

from harness.servers.model_server import ModelServer, ServingError, engine_command, resolve_engine
from tests.conftest import process_alive

pytestmark = pytest.mark.slow


def test_serves_lists_answers_and_stops(tiny_model_dir: Path) -> None:
    with ModelServer(tiny_model_dir, engine="transformers", threads=1) as served:
        assert served.base_url.startswith("http://127.0.0.1:")
        assert served.spec == f"openai-compatible:{served.base_url}:{tiny_model_dir.resolve()}"
        listed = httpx.get(f"{served.base_url}/models", timeout=10).json()["data"]
        assert [entry["id"] for entry in listed] == [served.model]
        body = {"model": served.model, "messages": [{"role": "user", "content": "hello"}],
                "max_tokens": 5, "temperature": 0}
        answer = httpx.post(f"{served.base_url}/chat/completions", json=body, timeout=60).json()
        assert answer["usage"]["completion_tokens"] <= 5
        assert isinstance(answer["choices"][0]["message"]["content"], str)
        pid = served.pid
    assert not process_alive(pid)


def test_a_server_that_dies_is_reported_with_its_log(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    server = ModelServer(tmp_path, engine="transformers", startup_timeout_s=120)
    with pytest.raises(ServingError) as failure:
        server.start()
    assert server.served is None
    # Our report's shape, not the engine's wording (which changes between releases): that it
    # died and with what status, where its log is, and the log's last lines quoted whole.
    message = str(failure.value)
    assert re.match(rf"serving {re.escape(str(tmp_path))} failed: the server exited with status [1-9]\d*\. "
                    rf"Server log {re.escape(str(server.log_path))} ends with:\n", message)
    tail = server.log_tail()
    assert tail.strip() and message.endswith(tail)


def test_not_a_model_directory(tmp_path: Path) -> None:
    with pytest.raises(ServingError, match="no config.json"):
        ModelServer(tmp_path)


def test_asking_for_vllm_without_it_says_why() -> None:
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(ServingError, match="vllm is not installed"):
            resolve_engine("vllm")
        assert resolve_engine("auto") == "gateway"    # the batched local provider, not one at a time
    else:  # a GPU machine with the gpu extra
        assert resolve_engine("auto") in {"vllm", "gateway"}


def test_vllm_command_serves_the_directory_under_its_path_or_a_chosen_name(tmp_path: Path) -> None:
    command = engine_command("vllm", tmp_path, host="127.0.0.1", port=8123)
    assert command[command.index("--model") + 1] == str(tmp_path)
    assert command[command.index("--served-model-name") + 1] == str(tmp_path)
    assert command[command.index("--port") + 1] == "8123"
    named = engine_command("vllm", tmp_path, host="127.0.0.1", port=8123, name="travel_booking")
    assert named[named.index("--served-model-name") + 1] == "travel_booking"


@pytest.mark.parametrize("name", ["", "two words", "a:b", "x@main", "../up", "/abs", "a//b"])
def test_a_served_name_a_client_could_not_send_is_refused(tiny_model_dir: Path, name: str) -> None:
    with pytest.raises(ServingError, match="served model name"):
        ModelServer(tiny_model_dir, served_name=name or " ")


def test_transformers_serve_answers_to_the_chosen_name(tiny_model_dir: Path) -> None:
    # `transformers serve` pins the model under the string it is given: the chosen name, a link
    # to the model in the server's working directory.
    with ModelServer(tiny_model_dir, engine="transformers", served_name="acme/travel_booking",
                     threads=1) as served:
        assert served.model == "acme/travel_booking"
        assert served.spec == f"openai-compatible:{served.base_url}:acme/travel_booking"
        listed = httpx.get(f"{served.base_url}/models", timeout=10).json()["data"]
        assert [entry["id"] for entry in listed] == ["acme/travel_booking"]
        body = {"model": "acme/travel_booking", "messages": [{"role": "user", "content": "hello"}],
                "max_tokens": 3, "temperature": 0}
        answer = httpx.post(f"{served.base_url}/chat/completions", json=body, timeout=60)
        assert answer.status_code == 200 and answer.json()["usage"]["completion_tokens"] <= 3
        links = [p for p in Path(tempfile.gettempdir()).glob("subterra-served-names-*")
                 if (p / "acme/travel_booking").resolve() == tiny_model_dir.resolve()]
        assert len(links) == 1
    assert not links[0].exists()


def test_stop_ends_a_server_that_ignores_sigterm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in engine that ignores SIGTERM and never listens: stop() must still end it.
    import harness.servers.model_server as serving

    script = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(600)\n"
    monkeypatch.setattr(serving, "resolve_engine", lambda engine: "transformers")
    monkeypatch.setattr(serving, "engine_command",
                        lambda *a, **k: [serving.sys.executable, "-c", script])
    monkeypatch.setattr(serving, "_STOP_GRACE_S", 0.5)
    started: list[int] = []
    popen = serving.subprocess.Popen

    def record(*args: object, **kwargs: object) -> object:
        process = popen(*args, **kwargs)
        started.append(process.pid)
        return process

    monkeypatch.setattr(serving.subprocess, "Popen", record)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ServingError, match="no answer from .* within 1s"):
        ModelServer(tmp_path, startup_timeout_s=1).start()
    assert len(started) == 1 and not process_alive(started[0])


def test_the_gateway_engine_honours_response_format(tiny_model_dir: Path) -> None:
    with ModelServer(tiny_model_dir, engine="gateway", threads=1) as served:
        assert served.engine == "gateway"
        listed = httpx.get(f"{served.base_url}/models", timeout=10).json()["data"]
        assert [entry["id"] for entry in listed] == [served.model]
        schema = {"type": "object", "properties": {"choice": {"type": "string", "enum": ["hello", "there"]}},
                  "required": ["choice"], "additionalProperties": False}
        body = {"model": served.model, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 24,
                "temperature": 0, "response_format": {"type": "json_schema",
                                                      "json_schema": {"name": "pick", "strict": True, "schema": schema}}}
        answer = httpx.post(f"{served.base_url}/chat/completions", json=body, timeout=120).json()
    # A random tiny model, held to the schema: its reply is the object, one of the two options.
    assert json.loads(answer["choices"][0]["message"]["content"])["choice"] in ("hello", "there")


def test_the_gateway_batches_concurrent_requests_into_the_in_process_replies(tiny_model_dir: Path) -> None:
    # What `subterra serve` serves on a CPU: concurrent requests are decoded together by the
    # gate's own local provider, so a client gets the in-process model's greedy replies.
    import asyncio

    from harness.llm import ChatRequest, Message, get_model

    openings = ["hello", "there", "how can I help", "you today", "hello there", "help you", "how", "can"]
    # Half greedy, half sampled with a seed: the random tiny model says the same thing greedily
    # to every prompt, its sampled replies differ (each row samples from its own seeded generator).
    batch = [ChatRequest(messages=(Message(role="user", content=o),), max_tokens=12,
                         temperature=0.0 if i % 2 else 1.0, seed=i) for i, o in enumerate(openings)]

    async def replies(spec: str, **options: object) -> list[str]:
        model = get_model(spec, **options)
        try:
            return [r.text for r in await asyncio.gather(*(model.generate(r) for r in batch))]
        finally:
            await model.aclose()

    with ModelServer(tiny_model_dir, engine="gateway", served_name="tiny", threads=1) as served:
        through_server = asyncio.run(replies(served.spec, max_concurrency=len(batch), cache="off"))
        refused = httpx.post(f"{served.base_url}/chat/completions", timeout=30, json={
            "model": str(tiny_model_dir), "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
    in_process = asyncio.run(replies(f"local:{tiny_model_dir}"))
    assert through_server == in_process
    assert len(set(in_process)) >= 4 and all(in_process)   # the replies differ: the comparison can fail
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "model_not_found"
