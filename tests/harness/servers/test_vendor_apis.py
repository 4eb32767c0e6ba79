"""Every real prompt path driven by a model that talks: SmolLM2-135M-Instruct behind the
local Anthropic and OpenAI servers, reached through the official SDKs. What it says is not
scripted, so these tests assert the handling (counted, recorded, never a crash), not words.

Slow: the gateway loads the model once for the module, each call decodes on the CPU.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.conditions import build_condition
from harness.conditions.langgraph_flow import LangGraphCondition
from harness.conditions.routing import route
from harness.judges.llm_judge import judge_transcript
from harness.llm import get_model
from harness.runner import run_conversation
from harness.servers.vendor_apis import LOCAL_KEY, LocalAPIs
from harness.simulator import UserSimulator
from harness.transcript import Turn
from tests.conftest import process_alive
from tests.harness.conditions.doubles import offline, procedure, run, scenarios

pytestmark = pytest.mark.slow

TURNS = [Turn(speaker="agent", text="Hello! Where would you like to travel, and when?"),
         Turn(speaker="user", text="Japan in May, for seven days, two of us, about $2000 each."),
         Turn(speaker="agent", text="Lovely. I can offer Tokyo and Kyoto for 7 days at $1900 each. Book it?"),
         Turn(speaker="user", text="Yes please, book it.")]


@pytest.fixture(scope="module")
def apis():
    with LocalAPIs("smollm2-135m", threads=2) as started:
        yield started


def anthropic_model(apis: LocalAPIs):
    return get_model("anthropic:claude-sonnet-4-5", api_key=LOCAL_KEY, base_url=apis.url, cache="off")


def openai_model(apis: LocalAPIs):
    return get_model("openai:gpt-4.1", api_key=LOCAL_KEY, base_url=f"{apis.url}/v1", cache="off")


def test_the_judge_is_scored_or_recorded_as_failed(apis: LocalAPIs) -> None:
    for model in (anthropic_model(apis), openai_model(apis)):
        result = run(judge_transcript(model, TURNS, challenge_posed=False))
        assert result.judge == model.name and result.model == "local:smollm2-135m"
        assert result.usage.calls == result.invalid_replies + (result.scores is not None) >= 1
        if result.scores is None:       # a 135M model rarely writes the rubric's JSON
            assert result.failure and (result.invalid_replies == 2 or result.call_failed)
        else:
            assert result.repaired == (result.invalid_replies == 1)


def test_the_simulated_user_talks_until_its_plan_ends_or_the_cap(apis: LocalAPIs) -> None:
    proc = procedure("travel")
    scenario = scenarios("travel")[0]
    agent = build_condition("orchestrated", proc, offline())
    transcript = run(run_conversation(agent, UserSimulator(anthropic_model(apis), proc), scenario, max_turns=6))
    assert transcript.end_reason in {"user_ended", "turn_cap", "terminal", "simulator_error"}
    assert transcript.user_model == "local:smollm2-135m" or transcript.end_reason == "simulator_error"
    users = [t for t in transcript.turns if t.speaker == "user"]
    assert all(t.text.strip() for t in users)                  # empty replies are retried, never kept
    # every customer turn is a call, and so is every empty reply asked for again
    assert transcript.user_usage.calls >= len(users) + (transcript.end_reason != "simulator_error") * \
        transcript.incidents.empty_user_replies
    if transcript.end_reason == "turn_cap":
        assert len(transcript.turns) == 6


def test_the_langgraph_classifier_routes_or_falls_back_and_counts(apis: LocalAPIs) -> None:
    proc = procedure("travel")
    hub = next(n for n in proc.nodes.values() if len(n.edges) > 1)
    decision = run(route(openai_model(apis), proc, hub.edges, TURNS, seed=0))
    assert decision.target in {e.to for e in hub.edges} and decision.usage.calls == 1
    # Through the graph: every unparsable classification is counted on the reply.
    condition = LangGraphCondition(proc, anthropic_model(apis))
    session = condition.session(scenarios("travel")[0])
    first = run(session.reply([]))
    second = run(session.reply([Turn(speaker="agent", text=first.text), TURNS[1]]))
    assert second.routing.calls >= 1 and 0 <= second.unparsed_routes <= second.routing.calls
    assert second.node in proc.nodes and second.model == "local:smollm2-135m"


def test_the_model_server_stays_small_after_the_calls(apis: LocalAPIs) -> None:
    # Runs last in the module: an unsized continuous-batching cache of `transformers serve` once
    # grew to 13.7 GB and was OOM-killed; the process holding the model must stay small.
    run(judge_transcript(openai_model(apis), TURNS * 8, challenge_posed=False))
    rss_kb = int(subprocess.check_output(["ps", "-o", "rss=", "-p", str(apis.server_pid)]))
    assert rss_kb < 2 * 1024 * 1024, f"the model server holds {rss_kb // 1024} MB"


def test_a_terminated_run_stops_the_command_and_what_it_started_then_the_servers(
        tiny_model_dir: Path, tmp_path: Path) -> None:
    # The command starts a worker of its own (as pytest starts xdist workers) and waits. A
    # worker left running after its controller would call a stopped server: calls that fail.
    started = tmp_path / "started"
    command = ("import os, subprocess, sys, time; "
               "worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
               f"open({str(started)!r}, 'w').write(f'{{os.getpid()}} {{worker.pid}} {{os.environ[\"ANTHROPIC_BASE_URL\"]}}'); "
               "time.sleep(300)")
    wrapper = subprocess.Popen([sys.executable, "-m", "harness.servers.vendor_apis", "--model", str(tiny_model_dir),
                                "--", sys.executable, "-c", command], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not started.exists() or len(started.read_text().split()) < 3:
        assert wrapper.poll() is None and time.monotonic() < deadline, wrapper.stderr.read() if wrapper.stderr else ""
        time.sleep(0.2)
    parent, worker, url = started.read_text().split()
    assert httpx.get(f"{url}/v1/models", timeout=10).status_code == 200
    wrapper.send_signal(signal.SIGTERM)
    status = wrapper.wait(timeout=90)
    assert not process_alive(int(parent)) and not process_alive(int(worker))
    assert status == 128 + signal.SIGTERM
    said = wrapper.stderr.read() if wrapper.stderr else ""
    model_pid = re.search(r"model in pid (\d+)", said)
    assert model_pid and not process_alive(int(model_pid[1])), said
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/v1/models", timeout=5)
