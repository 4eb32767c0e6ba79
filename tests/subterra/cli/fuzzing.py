"""Mutation fuzzing of the files users write: procedures, scenario sets, gate suites.

`mutate` turns a shipped file into a broken (or still valid) one with 1-3 seeded edits,
textual (delete, duplicate, swap, truncate, indent, odd characters, hostile YAML) or
structural (drop, replace, rename or add a key somewhere in the data, hostile templates).
`outcome` runs the real entry point on it, in process, under a time limit, and classifies
what happened: ``ok`` (exit 0), ``error`` (exit 2, every line ``error: file:line: …``) or a
failure (``traceback``, ``unlocated`` error line, ``timeout``, ``memory``).
"""

from __future__ import annotations

import contextlib
import copy
import io
import random
import re
import resource
import signal
import traceback
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT

SECONDS = 20                        # per input; the loaders stop hostile input far sooner
MEMORY_GROWTH_KB = 1024 * 1024      # peak RSS may not grow by more than 1 GiB over the run
OK, ERROR = "ok", "error"
ERROR_LINE = re.compile(r"^error: .+?:\d+: \S")

PROCEDURES = {p.stem: p for p in sorted((ROOT / "procedures").glob("*.yaml"))}
SCENARIOS = {p.stem: p for p in sorted((ROOT / "scenarios").glob("*.yaml"))}
SUITE = (ROOT / "test_suites" / "travel.gate.yaml").read_text().replace(
    "../procedures", str(ROOT / "procedures")).replace("../scenarios", str(ROOT / "scenarios"))

ODD_CHARACTERS = [":", "-", "[", "]", "{", "}", "&", "*", "!", "%", "#", "|", ">", '"', "'", "\t", "\x00",
                  "\x01", "\x7f", "\x85", "\ufeff", "é", "\u2028", "\\", "@", "`", "?", ",", "\n"]
ODD_TOKENS = ["*a", "&a", "!!float", "!!int", "!!bool", "!!timestamp", "!!binary", "!!python/object:os.system",
              "!custom", "~", "null", "-1", "0", "1e999", "9" * 40, "<<", "yes", "2024-01-01", "{{ x }}",
              "{% include 'x' %}", "[]", "{}", "''", "---", "...", "? x", "&a [*a]", "|", ">-"]
HOSTILE_LINES = [
    "bomb: &a [*a]",
    "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"
    "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]",
    "deep: " + "[" * 300 + "]" * 300,
    "merged:\n  <<: {x: 1}\n  y: 2",
    "x: !!float nope",
    "---\nsecond: document",
]
JUNK_VALUES: list[Any] = [
    None, -1, 0, 1, 10**12, 1.5, True, "", "x" * 5000, [], {}, [[[]]], {"a": {"b": {"c": 1}}}, "nowhere",
    "{{ self }}", "{{ undefined_name }}", "{{ x|nofilter }}", "{% include 'secrets' %}", "{% import 'x' as y %}",
    "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}", "{{ 'a' * 10**9 }}",
    "{{ lipsum(10**6) }}", "{{ ().__class__.__base__.__subclasses__() }}", "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "{{ " + "(" * 400 + "1" + ")" * 400 + " }}", "{{ destination + 1 }}", "{{ 1 // 0 }}", "{range: [1, 2]}",
    {"range": [5, 1]}, {"range": [1, 9], "step": 0}, {"range": [1]}, {"range": [1, 2], "stepp": 1},
    "../../../etc/passwd", "/tmp", "local:nope", "openai-compatible:http://u:p@h", "gpt5", "[/x] :100:",
]


# ---- mutations ------------------------------------------------------------------------------

def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into nested dicts/lists."""
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, prefix + (i,))
    return out


def _parent(data: Any, path: tuple) -> Any:
    for step in path[:-1]:
        data = data[step]
    return data


def _structural(text: str, rng: random.Random) -> str:
    from harness.errors import SpecError
    from harness.yaml_source import load_yaml

    try:
        data, _ = load_yaml("fuzz.yaml", text)
    except SpecError:
        return text
    data = copy.deepcopy(data)       # aliases share objects; edit one place at a time
    paths = [p for p in _paths(data) if p]
    if not paths:
        return text
    path = rng.choice(paths)
    parent, key = _parent(data, path), path[-1]
    action = rng.randrange(4)
    if action == 0:                                   # drop it
        del parent[key]
    elif action == 1:                                 # replace it with junk (or another value of the file)
        parent[key] = rng.choice(JUNK_VALUES) if rng.random() < 0.8 else _parent(data, rng.choice(paths) + (0,))
    elif action == 2 and isinstance(parent, dict):    # rename (a typo, or another key's name)
        value = parent.pop(key)
        parent[rng.choice([str(key)[:-1] or "x", str(key) + "s", "bogus", rng.choice(list(parent) or ["k"])])] = value
    else:                                             # add a key where a mapping is
        target = parent if isinstance(parent, dict) else data
        if isinstance(target, dict):
            target[rng.choice(["bogus", "next", "examples", "n", "range", "terminal", "self"])] = rng.choice(JUNK_VALUES)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)


def _textual(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    action = rng.randrange(8)
    if action == 0:
        del lines[i]
    elif action == 1:
        lines.insert(i, lines[j])
    elif action == 2:
        lines[i], lines[j] = lines[j], lines[i]
    elif action == 3:
        return text[: rng.randrange(len(text) + 1)]
    elif action == 4:
        lines[i] = " " * rng.randrange(1, 5) + lines[i] if rng.random() < 0.5 else lines[i].lstrip()
    elif action == 5:
        at = rng.randrange(len(lines[i]) + 1)
        lines[i] = lines[i][:at] + rng.choice(ODD_CHARACTERS) + lines[i][at:]
    elif action == 6:
        words = list(re.finditer(r"[\w.{}%-]+", lines[i]))
        if words:
            w = rng.choice(words)
            lines[i] = lines[i][: w.start()] + rng.choice(ODD_TOKENS) + lines[i][w.end():]
    else:
        lines.insert(i, rng.choice(HOSTILE_LINES))
    return "\n".join(lines)


def mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 3)):
        text = (_structural if rng.random() < 0.5 else _textual)(text, rng)
    return text


# ---- running one input ----------------------------------------------------------------------

class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout


def _validate_suite(path: Path) -> int:
    """What the gate does first with a suite: load and check it (one line per error)."""
    from gate.suite import load_suite
    from harness.errors import SpecErrors
    from subterra.cli import EXIT_INPUT_ERROR, err_console

    try:
        load_suite(path)
    except SpecErrors as e:
        for error in e.errors:
            err_console.print(f"error: {error}")
        return EXIT_INPUT_ERROR
    return 0


def outcome(kind: str, base: str, text: str, folder: Path) -> tuple[str, str]:
    """(class, detail) for one mutated file of `kind` made from shipped file `base`."""
    from subterra.cli import main

    path = folder / ("input.gate.yaml" if kind == "suite" else "input.yaml")
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    if kind == "procedure":
        run = lambda: main(["validate", str(path)])  # noqa: E731
    elif kind == "scenarios":
        run = lambda: main(["validate", str(PROCEDURES[base]), str(path)])  # noqa: E731
    else:
        import compile.recipe  # noqa: F401 - imports torch once, outside the time limit
        run = lambda: _validate_suite(path)  # noqa: E731
    err = io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, SECONDS)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = run()
    except _Timeout:
        return "timeout", f"over {SECONDS} s"
    except BaseException as e:  # noqa: BLE001 - any escape is the failure being counted
        return "traceback", "".join(traceback.format_exception_only(type(e), e)).strip()[:300]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if code == 0:
        return OK, ""
    lines = err.getvalue().strip().splitlines()
    bad = [line for line in lines if not ERROR_LINE.match(line)]
    if code != 2 or not lines or bad:
        return "unlocated", f"exit {code}: {(bad or lines or [''])[0][:300]}"
    return ERROR, lines[0][:200]


def corpus(count: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """`count` (kind, base, mutated text) per kind, the same for the same seed."""
    rng = random.Random(seed)
    bases = {"procedure": {k: p.read_text() for k, p in PROCEDURES.items()},
             "scenarios": {k: p.read_text() for k, p in SCENARIOS.items()},
             "suite": {"travel": SUITE}}
    out = []
    for kind, files in bases.items():
        for _ in range(count):
            base = rng.choice(sorted(files))
            out.append((kind, base, mutate(files[base], rng)))
    return out


def peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
