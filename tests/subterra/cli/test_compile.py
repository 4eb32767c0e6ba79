from __future__ import annotations

import pytest

from subterra.cli import console, main
from tests.conftest import ROOT

TINY = ["--recipe", "tiny-cpu", "--n", "12", "--set", "epochs=1", "--set", "model.scratch.hidden_size=64",
        "--set", "model.scratch.intermediate_size=128", "--set", "model.scratch.num_layers=1",
        "--set", "model.scratch.vocab_size=512"]


@pytest.mark.slow
def test_compile_reports_stages_and_second_run_reuses_everything(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(console, "width", 200)   # one table row per line
    args = ["compile", str(ROOT / "procedures/travel.yaml"), "--store", str(tmp_path), *TINY]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "data generation" in first and "fine-tuning" in first and "steps" in first
    assert "reused from store" not in first and "0 reused" in first     # no stage, no conversation
    assert main(args) == 0
    second = capsys.readouterr().out
    assert "reused from store (12 conversations, 0 LLM calls)" in second
    assert "reused from store (0 training steps)" in second


def test_bad_override_is_a_clean_error(tmp_path, capsys) -> None:
    args = ["compile", str(ROOT / "procedures/travel.yaml"), "--store", str(tmp_path), "--set", "epochs"]
    assert main(args) == 2
    assert "key=value" in capsys.readouterr().err


# --- two CPU processes through the recipe's launcher --------------------------------------------

def _micro(recipe: str, *more: str) -> list[str]:
    # TINY's micro model under a two-process recipe: 2 conversations per process and step
    return ["--recipe", recipe, *TINY[2:], "--set", "per_device_batch=2", *more]


def _rank_pids(logs) -> list[int]:
    return [int(line.split()[2]) for log in logs.glob("rank*.log")
            for line in log.read_text().splitlines() if line.startswith("--- pid ")]


@pytest.mark.slow
def test_a_terminated_two_process_compile_stops_every_rank_and_resumes(tmp_path, capsys, monkeypatch) -> None:
    import signal
    import subprocess
    import sys
    import time

    from compile.training_result import TrainResult
    from tests.conftest import process_alive

    monkeypatch.setattr(console, "width", 200)
    args = ["compile", str(ROOT / "procedures/travel.yaml"), "--store", str(tmp_path),
            *_micro("tiny-cpu-ddp", "--set", "epochs=40", "--set", "eval_every_steps=4")]
    child = subprocess.Popen([sys.executable, "-m", "subterra.cli", *args], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    partial = tmp_path / "model" / ".partial"
    deadline = time.monotonic() + 240
    while not list(partial.glob("*/state/complete")):
        assert child.poll() is None and time.monotonic() < deadline, "no resume point before the compile ended"
        time.sleep(0.05)
    (run,) = list(partial.iterdir())
    pids = _rank_pids(run / "logs")
    assert len(pids) == 2 and all(process_alive(pid) for pid in pids)
    child.send_signal(signal.SIGTERM)                  # `kill`, CI cancelling the job
    assert child.wait(timeout=60) != 0
    assert not any(process_alive(pid) for pid in pids)        # every rank stopped with it
    assert not (run / "training.json").exists()

    assert main(args) == 0                             # again: resumes from the resume point
    assert "steps on 2 processes" in capsys.readouterr().out
    (model,) = [p for p in (tmp_path / "model").iterdir() if not p.name.startswith(".")]
    result = TrainResult.model_validate_json((model / "training.json").read_text())
    assert result.processes == 2 and result.resumed_from_step and result.resumed_from_step % 4 == 0


@pytest.mark.slow
def test_zero3_compile_exports_a_plain_hugging_face_folder(tmp_path, capsys, monkeypatch) -> None:
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    monkeypatch.setattr(console, "width", 200)
    args = [str(ROOT / "procedures/travel.yaml"), "--store", str(tmp_path / "store"), *_micro("tiny-cpu-zero3")]
    assert main(["compile", *args]) == 0
    said = capsys.readouterr().out
    assert "steps on 2 processes" in said
    checkpoint = said.split("checkpoint: ")[1].split()[0]
    assert main(["export", *args, "--out", str(tmp_path / "export")]) == 0
    # ZeRO-3 shards were gathered on save: every weight whole, and plain transformers loads it
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "export")
    exported = load_file(tmp_path / "export" / "model.safetensors")
    assert exported.keys() == load_file(f"{checkpoint}/model.safetensors").keys()
    assert model.get_input_embeddings().weight.shape == (model.config.vocab_size, 64)
    assert all(t.numel() > 0 for t in exported.values())


def test_the_scenario_set_is_found_beside_the_procedure_or_named(tmp_path) -> None:
    # procedures/NAME.yaml -> scenarios/NAME.yaml (the shipped layout); a fixture folder's own
    # scenarios.yaml; and when there is none, an error that says where it looked and what to pass.
    from harness.errors import SpecError
    from subterra.cli.compile import default_scenarios

    assert default_scenarios(ROOT / "procedures" / "travel.yaml") == ROOT / "scenarios" / "travel.yaml"
    domain = ROOT / "tests" / "domains" / "taxi_booking"
    assert default_scenarios(domain / "procedure.yaml") == domain / "scenarios.yaml"
    alone = tmp_path / "flow.yaml"
    alone.write_text("name: x\n")
    with pytest.raises(SpecError, match=r"no scenario set found for it .*flow\.scenarios\.yaml.*; pass --scenarios FILE"):
        default_scenarios(alone)


def test_help_lists_every_shipped_recipe(capsys, monkeypatch) -> None:
    from compile.recipe import available_recipes

    monkeypatch.setattr(console, "width", 400)
    with pytest.raises(SystemExit):
        main(["compile", "--help"])
    text = " ".join(capsys.readouterr().out.split())    # argparse wraps the help
    assert {"tiny-cpu-ddp", "tiny-cpu-zero3", "qwen3-8b"} <= set(available_recipes())
    for name in available_recipes():
        assert f"{name}," in text or f"{name} (default" in text, name
