from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from compile.datagen import JOURNAL, DatagenConfig, generate_dataset, load_split, read_journal
from harness.llm.base import ChatModel, ChatRequest, ChatResult
from harness.llm.offline import OfflineModel
from harness.procedure import load_procedure
from harness.scenarios import load_scenario_set

SET = """\
procedure: mini_booking
variables:
  destination: [Japan, Peru, Iceland]
persona:
  style: [specific, vague]
"""


@pytest.fixture
def inputs(tmp_path, mini_path):
    s = tmp_path / "s.yaml"
    s.write_text(SET)
    return load_procedure(mini_path), load_scenario_set(s)


def _run(model, inputs, out: Path, **kw):
    proc, sset = inputs
    config = DatagenConfig(n=kw.pop("n", 10), seeds=kw.pop("seeds", [1, 2]), eval_fraction=0.3, concurrency=3)
    return asyncio.run(generate_dataset(model, proc, sset, config, out, show_progress=False))


def test_conversations_follow_their_paths_with_labels(inputs, tmp_path) -> None:
    summary = _run(OfflineModel(), inputs, tmp_path / "d")
    assert summary.conversations == 20 and summary.train + summary.eval == 20
    assert summary.eval > 0 and summary.usage.input_tokens > 0 and "offline" in summary.model
    convs = load_split(tmp_path / "d", "train") + load_split(tmp_path / "d", "eval")
    for conv in convs:
        assert [t.node for t in conv.turns] == conv.path
        assert [t.speaker for t in conv.turns][:2] == ["agent", "user"]
        assert conv.variables["destination"] in conv.turns[1].text


def test_same_seed_gives_byte_identical_files(inputs, tmp_path) -> None:
    _run(OfflineModel(), inputs, tmp_path / "a")
    _run(OfflineModel(), inputs, tmp_path / "b")
    for name in ("train.jsonl", "eval.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


class Killed(Exception):
    """Stands in for the process dying mid-run."""


class _Dies(ChatModel):
    """Real offline answers until `budget` calls, then the process 'dies'."""

    name = "offline"

    def __init__(self, budget: int) -> None:
        self.inner, self.budget, self.calls = OfflineModel(), budget, 0

    async def generate(self, request: ChatRequest) -> ChatResult:
        self.calls += 1
        if self.calls > self.budget:
            raise Killed
        return await self.inner.generate(request)


def test_killed_run_resumes_without_redoing_or_duplicating(inputs, tmp_path) -> None:
    out = tmp_path / "d"
    with pytest.raises(Killed):
        _run(_Dies(budget=40), inputs, out)
    finished = read_journal(out / JOURNAL)
    assert 0 < len(finished) < 20
    # A torn last line, as a kill during a write leaves it.
    with (out / JOURNAL).open("a") as f:
        f.write('{"id": "mini_booking-s9-0000')
    counter = _Dies(budget=10**6)
    summary = _run(counter, inputs, out)
    assert summary.generated_now == 20 - len(finished)
    assert counter.calls == sum(len(c.path) for c in _all(out)) - sum(len(c.turns) for c in finished.values())
    ids = [json.loads(line)["id"] for line in (out / JOURNAL).read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 20
    _run(OfflineModel(), inputs, tmp_path / "fresh")
    assert (out / "train.jsonl").read_bytes() == (tmp_path / "fresh" / "train.jsonl").read_bytes()


def _all(out: Path):
    return load_split(out, "train") + load_split(out, "eval")


class _Recorder(OfflineModel):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ChatRequest] = []

    async def generate(self, request: ChatRequest) -> ChatResult:
        self.requests.append(request)
        return await super().generate(request)


def test_a_chain_of_agent_steps_is_one_turn_written_from_every_step(tmp_path) -> None:
    from harness.procedure import turn_groups
    from tests.conftest import shape_files

    procedure_file, scenario_file = shape_files("agent_chain")
    proc, sset = load_procedure(procedure_file), load_scenario_set(scenario_file)
    model = _Recorder()
    config = DatagenConfig(n=4, seeds=[1], eval_fraction=0.5)
    asyncio.run(generate_dataset(model, proc, sset, config, tmp_path, show_progress=False))
    for conv in load_split(tmp_path, "train") + load_split(tmp_path, "eval"):
        assert [t.steps for t in conv.turns] == [list(g) for g in turn_groups(proc, conv.path)]
        chain = conv.turns[2]
        assert chain.speaker == "agent" and chain.steps == ["acknowledge", "send_code", "ask_code"]
    chain_requests = [r for r in model.requests if r.hint.steps]
    assert len(chain_requests) == 4 and len(model.requests) == 4 * 5   # five turns a conversation
    prompt = chain_requests[0].messages[1].content
    wanted = ["must verify the customer first", "six-digit code", "read the code back"]
    assert all(w in prompt for w in wanted)
    assert [prompt.index(w) for w in wanted] == sorted(prompt.index(w) for w in wanted)
