"""The layers import one way: harness (core) ← compile ← gate ← subterra (the CLI).

Every import statement of every module counts, function-level and `TYPE_CHECKING` ones
included: a hidden import upwards is still a seam that runs both ways.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

LAYERS = ("harness", "compile", "gate", "subterra")     # each may import only those before it


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """(top-level package, line) of every absolute import in a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return found


def upward_imports(layer: str) -> list[str]:
    above = set(LAYERS[LAYERS.index(layer) + 1:])
    return [f"{path.relative_to(ROOT)}:{line}: imports {package}"
            for path in sorted((ROOT / layer).rglob("*.py"))
            for package, line in sorted(imported_packages(path)) if package in above]


@pytest.mark.parametrize("layer", LAYERS[:-1])
def test_no_layer_imports_one_above_it(layer: str) -> None:
    assert upward_imports(layer) == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from gate.run import GateRun\n    import subterra.cli\n")
    assert imported_packages(module) == {("gate", 2), ("subterra", 3)}


def test_importing_the_pytest_plugin_loads_neither_langgraph_nor_scikit_learn() -> None:
    code = ("import sys, gate.plugin; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'langgraph', 'sklearn', 'torch', 'transformers'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_the_readme_layout_table_names_every_module() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Layout"):]
    table = table[:table.index("\n## ", 1)] if "\n## " in table[1:] else table
    listed = set(re.findall(r"`([\w/.]+)`", table))
    missing = []
    for layer in LAYERS:
        for path in sorted((ROOT / layer).iterdir()):
            if path.name.startswith(("_", ".")) or not (path.suffix == ".py" or (path / "__init__.py").exists()):
                continue
            rel = path.relative_to(ROOT).as_posix() + ("/" if path.is_dir() else "")
            if rel not in listed and f"{layer}/" not in listed:
                missing.append(rel)
    assert missing == []


def test_loading_and_checking_files_imports_neither_torch_nor_transformers() -> None:
    # `validate` on procedures and scenario sets, and collecting a gate suite, only read
    # files: a model library would cost seconds per command on a small machine.
    code = ("import contextlib, io, sys\n"
            "from subterra.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['validate', 'procedures/travel.yaml', 'scenarios/travel.yaml']) == 0\n"
            "    assert main(['gate', 'test_suites/travel.gate.yaml', '--collect-only']) == 0\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'tokenizers'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
