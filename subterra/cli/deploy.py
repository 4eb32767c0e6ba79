"""`subterra export` and `subterra serve`: take a compiled model out of the store and serve it."""

from __future__ import annotations

import argparse
import json
import signal
from pathlib import Path

from harness.files import runs_root, state_root
from subterra.cli import Command, command, console, err_console
from subterra.cli.compile import add_compile_arguments, compile_from_args

EXPORTS_DIR = state_root() / "exports"


def export_compiled(args: argparse.Namespace, out: Path, *, reuse: bool = False) -> Path:
    """Compile through the store (reused if unchanged) and export to `out`, with the model
    card's gate results from `.subterra/runs` when this model was gated here. `reuse`: keep
    an export of the same model already at `out`."""
    from compile.export import EXPORT_INFO, export_model
    from gate.model_card_results import latest_results, results_markdown

    compiled = compile_from_args(args)
    info = out / EXPORT_INFO
    if reuse and info.is_file() and \
            json.loads(info.read_text())["model_fingerprint"] == compiled.model_fingerprint:
        return out
    found = latest_results(runs_root(), compiled.procedure.name, compiled.model_fingerprint)
    return export_model(compiled, out, gate_results=results_markdown(*found) if found else None)


@command("export", "write a compiled model as a Hugging Face folder (weights, tokenizer, model card)")
def _export(p: argparse.ArgumentParser) -> Command:
    add_compile_arguments(p)
    p.add_argument("--out", type=Path, required=True, help="folder to write (replaced if it exists)")

    def run(args: argparse.Namespace) -> int:
        out = export_compiled(args, args.out)
        info = json.loads((out / "subterra.json").read_text())
        console.print(f"exported {info['procedure']} (model {info['model_fingerprint'][:12]}, "
                      f"recipe {info['recipe']}) to {out}")
        console.print(f"serve it: subterra serve {out}")
        return 0
    return run


@command("serve", "serve a compiled model (an exported folder, or a procedure) behind an OpenAI-compatible API")
def _serve(p: argparse.ArgumentParser) -> Command:
    add_compile_arguments(p, metavar="DIR_OR_PROCEDURE",
                          help="an exported folder, or a procedure YAML (compiled and exported first)")
    p.add_argument("--port", type=int, help="port on --host (default: a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--engine", choices=["auto", "transformers", "vllm", "gateway"], default="auto",
                   help="vllm where vllm and a GPU are present (auto), else transformers serve; gateway: "
                        "the gate's batched local model, which honours response_format and tools on a CPU")
    p.add_argument("--threads", type=int, help="CPU threads for the server (default: torch's choice)")

    def run(args: argparse.Namespace) -> int:
        from compile.export import SYSTEM_PROMPT_FILE
        from harness.servers.model_server import ModelServer, ServingError

        target = Path(args.procedure)
        if target.is_dir():
            folder = target
        else:   # a procedure: compiled through the store, exported once per model fingerprint
            folder = export_compiled(args, EXPORTS_DIR / target.stem, reuse=True)
        server = ModelServer(folder, engine=args.engine, host=args.host, port=args.port,
                             threads=args.threads)
        try:
            with server as served:
                console.print(f"serving {folder} with {served.engine} (pid {served.pid}, log: {served.log_path})")
                console.print(f"base URL: {served.base_url}")
                console.print(f"model:    {served.model}")
                hint = target if folder is not target else _procedure_hint(folder)
                console.print(f"gate it:  subterra run {hint} --condition subterranean "
                              f"--model {served.spec} --system-prompt {folder / SYSTEM_PROMPT_FILE}")
                console.print("Ctrl-C stops the server")
                previous = signal.signal(signal.SIGTERM, _interrupt)   # `kill`, `docker stop`: the same
                try:
                    status = server.wait()
                finally:
                    signal.signal(signal.SIGTERM, previous)
        except ServingError as e:
            err_console.print(f"error: {e}", markup=False)
            return 1
        err_console.print(f"the server exited with status {status}; its log: {server.log_path}")
        return 1
    return run


def _interrupt(_signum: int, _frame: object) -> None:
    # The model server runs in a session of its own: without this, a terminated `subterra
    # serve` would leave it running.
    raise KeyboardInterrupt


def _procedure_hint(folder: Path, procedures: Path = Path("procedures")) -> str:
    """The file of the procedure an export was compiled from, for the `gate it` line: the one
    under `procedures/` whose name the export records. The file name need not be the name
    (procedures/travel.yaml is `travel_booking`), so the files are read; PROCEDURE if none is."""
    from harness.errors import SpecError
    from harness.procedure.load import load_procedure

    info = folder / "subterra.json"
    if not info.is_file():
        return "PROCEDURE"
    name = json.loads(info.read_text())["procedure"]
    for path in sorted(procedures.glob("*.yaml")):
        try:
            if load_procedure(path).name == name:
                return str(path)
        except (SpecError, OSError):
            continue            # not a procedure, or not one that loads: not the one
    return "PROCEDURE"
