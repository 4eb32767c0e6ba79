"""Hostile YAML ends in one `file:line: message`, fast and small, never a traceback."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import pytest

from harness.errors import SpecError
from harness.yaml_source import MAX_BYTES, load_yaml

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9))

CASES = {
    "self alias": ("nodes: &a [*a]\n", 1, "alias '*a' is used inside the value it names"),
    "alias bomb": (BOMB, 6, "more than 200,000 values"),
    "deep nesting": ("a:\n" + "".join("  " * i + "- \n" for i in range(1, 80)) + "  " * 80 + "- x\n", None,
                     "nested more than 64 levels"),
    "deep flow nesting": ("a: " + "[" * 2000 + "]" * 2000 + "\n", 1, "nesting depth"),
    "bad float": ("a: 1\nb: !!float x\n", 2, "'x' is not a valid !!float"),
    "bad int": ("b: !!int x\n", 1, "'x' is not a valid !!int"),
    "bad bool": ("b: !!bool x\n", 1, "'x' is not a valid !!bool"),
    "bad timestamp": ("b: !!timestamp x\n", 1, "'x' is not a valid !!timestamp"),
    "huge int": ("b: " + "9" * 5000 + "\n", 1, "is not a valid !!int"),
    "python tag": ("a: !!python/object/apply:os.system [ls]\n", 1, "unsupported YAML tag"),
    "control character": ("a: 1\nb: x\x01y\n", 2, "character U+0001 is not allowed"),
    "duplicate key": ("a: 1\na: 2\n", 2, "duplicate key 'a' (first defined on line 1)"),
    "two documents": ("a: 1\n---\nb: 2\n", 2, "expected one YAML document"),
    "complex key": ("? [a]\n: 1\n", 1, "mapping keys must be plain scalars"),
    "merge of a scalar": ("a:\n  <<: 1\n", 2, "merge key"),
    "unknown alias": ("a: *nope\n", 1, "names no anchor"),
    "empty": ("", 1, "file is empty"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_hostile_yaml_is_one_located_error(case: str) -> None:
    text, line, expect = CASES[case]
    started = time.monotonic()
    with pytest.raises(SpecError) as info:
        load_yaml("f.yaml", text)
    message = str(info.value)
    assert expect in message and "\n" not in message, message
    assert message.startswith(f"f.yaml:{line}: " if line else "f.yaml:")
    assert time.monotonic() - started < 5


def test_merge_keys_are_supported_and_explicit_keys_win() -> None:
    data, source = load_yaml("f.yaml", "base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n")
    assert data["c"] == {"x": 1, "y": 3}
    assert source.line(("c", "x")) == 3 and source.line(("c", "y")) == 4


def test_line_numbers_follow_the_data(mini_path: Path) -> None:
    _, source = load_yaml(mini_path)
    lines = mini_path.read_text().splitlines()
    assert lines[source.line(("nodes", "decide", "next", 1, "to")) - 1].strip() == "- to: offer"


def test_only_small_regular_files_are_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * MAX_BYTES + "\n")
    for path, expect in ((fifo, "not a regular file"), (Path("/dev/zero"), "not a regular file"),
                         (tmp_path, "is a directory"), (big, "larger than"), (tmp_path / "nope", "cannot read")):
        with pytest.raises(SpecError, match=expect):
            load_yaml(path)


def test_a_large_valid_scalar_parses_quickly_in_little_memory() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    data, _ = load_yaml("f.yaml", "a: " + "x" * (MAX_BYTES - 100) + "\n")
    assert len(data["a"]) == MAX_BYTES - 100
    assert time.monotonic() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024   # kB


def test_yes_and_no_stay_strings_as_in_yaml_1_2(tmp_path) -> None:
    # Dialogue datasets name nodes `yes` / `no`; YAML 1.1 would read them as booleans.
    path = tmp_path / "f.yaml"
    path.write_text("yes: no\nflags: [on, off, y, n, true, False]\n")
    data, _ = load_yaml(path)
    assert data == {"yes": "no", "flags": ["on", "off", "y", "n", True, False]}
