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
    "deep flow nesting": ("a: " + "[" * 2000 + "]" * 2000 + "\n", 1, "YAML syntax error: "),  # libyaml's words follow
    "bad float": ("a: 1\nb: !!float x\n", 2, "'x' is not a valid !!float"),
    "bad int": ("b: !!int x\n", 1, "'x' is not a valid !!int"),
    "bad bool": ("b: !!bool x\n", 1, "'x' is not a valid !!bool"),
    "bad timestamp": ("b: !!timestamp x\n", 1, "'x' is not a valid !!timestamp"),
    "huge int": ("b: " + "9" * 5000 + "\n", 1, "is not a valid !!int"),
    "python tag": ("a: !!python/object/apply:os.system [ls]\n", 1, "unsupported YAML tag"),
    "control character": ("a: 1\nb: x\x01y\n", 2, "character U+0001 is not allowed"),
    "escaped NUL": ('a: 1\nb: "x\\0y"\n', 2, "escaped character U+0000 is not allowed"),
    "escaped ESC": ('a:\n  - "\\x1b[31mred"\n', 2, "escaped character U+001B is not allowed"),
    "escaped control in a key": ('"a\\u0007": 1\n', 1, "escaped character U+0007 is not allowed"),
    "escaped newline C1": ('a: "\\x9b"\n', 1, "escaped character U+009B is not allowed"),
    "bool tag on a 1.1 boolean": ("a: !!bool yes\n", 1, "'yes' is not a valid !!bool"),
    "NUL of UTF-16 without a BOM": ("a\0:\0 \0b\0", 1, "UTF-16 without a byte-order mark"),
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


# YAML 1.2 core schema, plus one rule: a number that would not print back as written stays text.
MEANINGS = {
    "yes": "yes", "no": "no", "NO": "NO", "on": "on", "off": "off", "y": "y", "n": "n", "Yes": "Yes",
    "true": True, "True": True, "TRUE": True, "false": False, "FALSE": False,
    "~": None, "null": None, "NULL": None,
    "9:30": "9:30", "1:20:00": "1:20:00", "0123": "0123", "+44": "+44", "-007": "-007", "1_000": "1_000",
    "42": 42, "-7": -7, "0": 0, "0o17": 15, "0x1F": 31, "1.5": 1.5, "1e3": 1000.0, "-.inf": float("-inf"),
    "2024-01-01": "2024-01-01", "=": "=", "<<x": "<<x",
}


@pytest.mark.parametrize("text", MEANINGS, ids=list(MEANINGS))
def test_plain_scalars_mean_what_yaml_1_2_core_says(text: str) -> None:
    expected = MEANINGS[text]
    key = f"{text}: key\n" if expected is not None else ""     # a null key is refused
    data, _ = load_yaml("f.yaml", f"value: {text}\nlist: [{text}]\n{key}")
    for value in (data["value"], data["list"][0]):
        assert value == expected and type(value) is type(expected), (text, value)
    if expected is not None:
        assert data[expected] == "key"


def test_nan_and_explicit_tags_follow_1_2() -> None:
    data, _ = load_yaml("f.yaml", "a: .nan\nb: !!float 1\nc: !!int 0123\nd: !!str 12\ne: !!timestamp 2024-01-02\n")
    assert data["a"] != data["a"] and data["b"] == 1.0 and type(data["b"]) is float
    assert data["c"] == 123 and data["d"] == "12" and str(data["e"]) == "2024-01-02"


def test_quoted_strings_keep_their_escapes_that_are_not_control_characters() -> None:
    data, _ = load_yaml("f.yaml", 'a: "tab\\there\\nnext \\u00e9"\nb: \'\\x1b stays literal\'\n')
    assert data == {"a": "tab\there\nnext é", "b": "\\x1b stays literal"}


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_files_with_a_byte_order_mark_are_read(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "f.yaml"
    text = "name: café\nstart: greet\n"
    data = text.encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be"):      # these codecs write no BOM: add it
        data = ("\ufeff" + text).encode(encoding)
    path.write_bytes(data)
    parsed, source = load_yaml(path)
    assert parsed == {"name": "café", "start": "greet"} and source.line(("start",)) == 2


def test_invalid_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(SpecError) as info:
        load_yaml(path)
    assert str(info.value).startswith(f"{path}:2: file is not valid UTF-8 (byte 0xe9")
