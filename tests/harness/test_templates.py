"""The bounded template sandbox: every hostile template ends in one short line, quickly."""

from __future__ import annotations

import time

import pytest

from harness.templates import TemplateFailure, compile_template, render

HOSTILE = {
    "include": ("{% include 'x' %}", "include %} is not allowed"),
    "import": ("{% import 'x' as y %}", "import %} is not allowed"),
    "macro recursion": ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "macro %} is not allowed"),
    # jinja2 words these two; ours is the prefix and naming what the template got wrong.
    "unknown filter": ("{{ x|nope }}", ("template syntax error: ", "'nope'")),
    "undefined": ("{{ y }}", ("template error: ", "'y'")),
    "type mismatch": ("{{ x + 1 }}", "TypeError"),
    "sandbox": ("{{ x.__class__.__mro__ }}", "sandbox refused"),
    "nested ranges": ("{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}",
                      "too much work"),
    "big range": ("{% for i in range(99999) %}{% endfor %}", "too large"),
    "lipsum": ("{{ lipsum(10**6) }}", "too large"),
    "repetition": ("{{ 'a' * 10**9 }}", "repetition longer"),
    "power": ("{{ 7 ** 100000 }}", "too large"),
    "percent width": ("{{ '%999999999d' % 1 }}", "too large"),
    "format width": ("{{ '{:999999999}'.format(1) }}", "format width"),
    "method width": ("{{ x.ljust(999999999) }}", "too large"),
    "doubling": ("{% set s = 'abcdefgh' %}" + "{% set s = s ~ s ~ s ~ s %}" * 12 + "{{ s }}", "longer than"),
    "namespace doubling": ("{% set ns = namespace(s='a') %}{% for i in range(40) %}"
                           "{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "longer than"),
    "parentheses": ("{{ " + "(" * 400 + "1" + ")" * 400 + " }}", "nested too deeply"),
    "division": ("{{ 1 // 0 }}", "ZeroDivisionError"),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_template_fails_in_one_line_within_bounds(case: str) -> None:
    template, expect = HOSTILE[case]
    started = time.monotonic()
    with pytest.raises(TemplateFailure) as info:
        render(template, {"x": "5"})
    parts = (expect,) if isinstance(expect, str) else expect
    assert all(part in str(info.value) for part in parts) and "\n" not in str(info.value)
    assert time.monotonic() - started < 10


def test_ordinary_templates_render() -> None:
    text = "{{ x|int * 2 }} {{ x ~ '!' }} {% for c in 'ab' %}{{ loop.index }}{{ c|upper }}{% endfor %}"
    assert render(text, {"x": "5"}) == "10 5! 1A2B"
    assert render("{{ range(3)|list|join(',') }}", {}) == "0,1,2"


def test_refused_tags_fail_at_compile_time() -> None:
    with pytest.raises(TemplateFailure, match="not allowed"):
        compile_template("{% extends 'base' %}")
