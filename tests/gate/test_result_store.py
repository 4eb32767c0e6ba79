from __future__ import annotations

import asyncio
import multiprocessing as mp
from pathlib import Path

from gate.result_store import ResultStore
from tests.gate.test_checks import result


def _worker(root: str, counter: str) -> None:
    store = ResultStore(Path(root))

    async def run(keys):
        with open(counter, "a") as f:
            f.write(" ".join(str(i) for i, _ in keys) + "\n")
        await asyncio.sleep(0.2)
        return [result("c", i, 5) for i, _ in keys]

    got = store.ensure_groups("p", {"c": ([(0, 0), (1, 0), (2, 0)], run)})["c"]
    assert [r.transcript.scenario_index for r in got] == [0, 1, 2]


def test_group_is_computed_once_across_processes(tmp_path) -> None:
    counter = tmp_path / "calls.txt"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(tmp_path / "r"), str(counter))) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert counter.read_text().splitlines() == ["0 1 2"]


def test_only_missing_results_are_run(tmp_path) -> None:
    store = ResultStore(tmp_path)
    store.put(result("c", 1, 4))
    asked = []

    async def run(keys):
        asked.extend(i for i, _ in keys)
        return [result("c", i, 5) for i, _ in keys]

    got = store.ensure_groups("p", {"c": ([(0, 0), (1, 0), (2, 0)], run)})["c"]
    assert asked == [0, 2] and [r.score("task_success") for r in got] == [5, 4, 5]
    assert len(store.all("p", "c")) == 3


def test_a_group_records_how_long_it_ran_and_a_resumed_run_adds_its_part(tmp_path) -> None:
    store = ResultStore(tmp_path)

    async def run(keys):
        await asyncio.sleep(0.1)
        return [result("c", i, 5) for i, _ in keys]

    assert store.seconds("p", "c") is None
    store.ensure_groups("p", {"c": ([(0, 0)], run)})
    first = store.seconds("p", "c")
    assert first is not None and first >= 0.1
    store.ensure_groups("p", {"c": ([(0, 0)], run)})          # nothing missing: nothing ran, nothing added
    assert store.seconds("p", "c") == first
    store.ensure_groups("p", {"c": ([(0, 0), (1, 0)], run)})
    assert store.seconds("p", "c") >= first + 0.1


def test_groups_run_side_by_side_and_one_groups_error_loses_no_other_results(tmp_path) -> None:
    store = ResultStore(tmp_path)
    started: list[str] = []

    def runner(condition: str, fails: bool):
        async def run(keys):
            started.append(condition)
            await asyncio.sleep(0.1)
            assert len(started) == 2            # both groups began before either finished
            if fails:
                raise RuntimeError(f"{condition} broke")
            return [result(condition, i, 5) for i, _ in keys]
        return run

    got = store.ensure_groups("p", {"ok": ([(0, 0), (1, 0)], runner("ok", False)),
                                    "bad": ([(0, 0)], runner("bad", True))})
    assert [r.transcript.scenario_index for r in got["ok"]] == [0, 1] and len(store.all("p", "ok")) == 2
    assert isinstance(got["bad"], RuntimeError) and str(got["bad"]) == "bad broke"
    assert store.all("p", "bad") == [] and store.seconds("p", "bad") is None


def test_a_conversation_cut_by_a_failed_call_is_not_kept_to_resume_from(tmp_path) -> None:
    store = ResultStore(tmp_path)
    finished, cut = result("c", 0, 5).transcript, result("c", 1, 5).transcript
    cut = cut.model_copy(update={"end_reason": "agent_error", "error": "Connection error.", "cut_by_failed_call": True})
    store.stage(finished)
    store.stage(cut)
    assert list(store.staged("p", "c", [(0, 0), (1, 0)])) == [(0, 0)]     # a resumed run has scenario 1 again


def test_trials_of_a_scenario_are_stored_apart_and_trial_0_keeps_its_old_name(tmp_path) -> None:
    store = ResultStore(tmp_path)
    first = result("c", 3, 5)
    second = first.model_copy(update={"transcript": first.transcript.model_copy(update={"trial": 2})})
    store.put(first)
    store.put(second)
    assert store.path("p", "c", 3).name == "0003.json" and store.path("p", "c", 3, 2).name == "0003-t2.json"
    assert store.get("p", "c", 3, 2).transcript.trial == 2 and store.get("p", "c", 3).transcript.trial == 0
    assert '"trial"' not in store.path("p", "c", 3).read_text()     # trial 0 is written as before trials existed


def test_a_pass_needs_the_backend_end_state_when_the_procedure_acts() -> None:
    from harness.judges.actions import ActionVerdict

    talked = result("subterranean", 0, 5)
    assert talked.passed                                   # no tools: terminal, valid trace, task success 5
    acted = talked.model_copy(update={"actions": ActionVerdict(end_state_match=True)})
    wrong = talked.model_copy(update={"actions": ActionVerdict(end_state_match=False)})
    assert acted.passed and not wrong.passed
