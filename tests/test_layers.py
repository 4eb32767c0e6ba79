"""The layers import one way: harness (core) ← compile ← gate ← subterra (the CLI), and no
module imports itself back through others (no import cycle).

Every import statement of every module counts, function-level and `TYPE_CHECKING` ones
included: a hidden import upwards is still a seam that runs both ways.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import networkx as nx
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


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, name: str, modules: set[str]) -> set[str]:
    """The modules among `modules` that the module `name` (at `path`) imports: `from a.b import c`
    names `a.b.c` when that is a module, else `a.b`; relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
    return found & modules - {name}


def import_graph(root: Path) -> nx.DiGraph:
    """Module → the modules it imports, over every module of the four layers under `root`."""
    paths = {module_name(p, root): p for layer in LAYERS if (root / layer).is_dir()
             for p in sorted((root / layer).rglob("*.py"))}
    graph = nx.DiGraph()
    graph.add_nodes_from(paths)
    for name, path in paths.items():
        graph.add_edges_from((name, target) for target in imported_modules(path, name, set(paths)))
    return graph


def import_cycles(root: Path) -> list[list[str]]:
    """Each group of modules that import one another (a strongly connected component), sorted."""
    return sorted(sorted(c) for c in nx.strongly_connected_components(import_graph(root)) if len(c) > 1)


@pytest.mark.parametrize("layer", LAYERS[:-1])
def test_no_layer_imports_one_above_it(layer: str) -> None:
    assert upward_imports(layer) == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from gate.run import GateRun\n    import subterra.cli\n")
    assert imported_packages(module) == {("gate", 2), ("subterra", 3)}


def test_no_module_imports_itself_back() -> None:
    assert import_cycles(ROOT) == []


def test_the_cycle_check_sees_hidden_and_relative_imports(tmp_path: Path) -> None:
    package = tmp_path / "gate"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "run.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .cases import Case\n")
    (package / "cases.py").write_text("def collect():\n    from gate import checks\n")
    (package / "checks.py").write_text("import gate.run\n")
    (package / "plain.py").write_text("from gate.run import x\n")
    assert import_cycles(tmp_path) == [["gate.cases", "gate.checks", "gate.run"]]


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
