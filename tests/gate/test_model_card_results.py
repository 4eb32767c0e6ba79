"""Finding the latest gate results of one compiled model by its fingerprint."""

from __future__ import annotations

import os
from pathlib import Path

from gate.model_card_results import compiled_label, latest_results, results_markdown
from gate.result_store import ConversationResult, ResultStore
from harness.judges.llm_judge import JudgeResult
from harness.judges.rubric import Scores
from harness.judges.trace import TraceVerdict
from harness.transcript import Transcript, Turn

FINGERPRINT = "ab" * 32


def store_run(runs: Path, run: str, agent_model: str, tasks: list[int], mtime: float) -> None:
    store = ResultStore(runs / run)
    for index, task in enumerate(tasks):
        scores = Scores(task_success=task, information_accuracy=4, consistency=4, graceful_handling=3,
                        naturalness=4)
        verdict = TraceVerdict(nodes=["greet"], confidence=[1.0], valid=task > 2, off_chart_steps=[],
                               skipped_nodes=[], terminal="resolved" if task > 1 else None,
                               terminal_kind=None, expected_terminal=None, terminal_fits=None,
                               repeated_questions=[], node_visits={}, node_passes={}, edge_visits={})
        transcript = Transcript(procedure="zoom_support", condition="subterranean", scenario_index=index,
                                turns=[Turn(speaker="agent", text="hi")], end_reason="terminal",
                                agent_model=agent_model)
        store.put(ConversationResult(transcript=transcript, verdict=verdict,
                                     judges=[JudgeResult(judge="offline", scores=scores)],
                                     offline_scores=scores.model_dump()))
        os.utime(store.path("zoom_support", "subterranean", index), (mtime, mtime))


def test_the_latest_run_of_this_model_is_found_and_summarised(tmp_path: Path) -> None:
    store_run(tmp_path, "old", compiled_label(FINGERPRINT), [5, 5], mtime=1_000)
    store_run(tmp_path, "new", compiled_label(FINGERPRINT), [5, 2, 1], mtime=2_000)
    store_run(tmp_path, "newest-other-model", compiled_label("cd" * 32), [4], mtime=3_000)
    run, results = latest_results(tmp_path, "zoom_support", FINGERPRINT)
    assert run.name == "new" and len(results) == 3
    text = results_markdown(run, results)
    assert "| reached a terminal | 2/3 |" in text and "| valid trace | 1/3 |" in text
    assert "| mean task_success | 2.67 (3 judged) |" in text
    assert "offline" in text


def test_no_results_for_a_model_never_gated(tmp_path: Path) -> None:
    store_run(tmp_path, "run", compiled_label("cd" * 32), [4], mtime=1_000)
    assert latest_results(tmp_path, "zoom_support", FINGERPRINT) is None
    assert latest_results(tmp_path / "missing", "zoom_support", FINGERPRINT) is None
