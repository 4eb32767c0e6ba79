"""Record/replay cache: keys, modes, replay without network, secrets, many processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from harness.llm import (
    CacheMissError,
    ChatRequest,
    ChatResult,
    Hint,
    Message,
    ResponseCache,
    Usage,
    get_model,
)
from harness.llm.cache import cache_key, default_cache_mode
from tests.harness.llm.calls import answer, answers
from tests.harness.llm.fake_servers import FakeLLMServer

BASE = ChatRequest(messages=(Message(role="user", content="hello"),))


def result(text: str) -> ChatResult:
    return ChatResult(
        text=text, usage=Usage(input_tokens=3, output_tokens=4, calls=1), model="m-1", latency_s=0.5
    )


@pytest.mark.parametrize(
    "change",
    [
        {"messages": (Message(role="user", content="hello!"),)},
        {"messages": (Message(role="system", content="hello"),)},
        {"max_tokens": 10},
        {"temperature": 0.7},
        {"seed": 1},
        {"stop": ("x",)},
        {"trial": 1},
        {"hint": Hint(task="route", options={"a": ("x",)})},
    ],
)
def test_every_keyed_field_changes_the_key(change: dict[str, object]) -> None:
    assert cache_key("p", "m", BASE.model_copy(update=change)) != cache_key("p", "m", BASE)


def test_key_ignores_purpose_and_depends_on_provider_and_model() -> None:
    assert cache_key("p", "m", BASE) == cache_key(
        "p", "m", BASE.model_copy(update={"purpose": "judge"})
    )
    assert cache_key("p", "m", BASE) == cache_key("p", "m", ChatRequest(messages=BASE.messages))
    assert (
        len({cache_key("p", "m", BASE), cache_key("q", "m", BASE), cache_key("p", "n", BASE)}) == 3
    )


def test_put_then_get_returns_the_result_marked_cached(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    key = cache_key("p", "m", BASE)
    assert cache.get(key) is None
    cache.put(key, "p", "m", BASE, result("first"))
    cache.put(key, "p", "m", BASE, result("second"))  # INSERT OR IGNORE: the first answer stays
    hit = cache.get(key)
    assert hit is not None and hit.cached
    assert hit.model_copy(update={"cached": False}) == result("first")
    assert len(cache) == 1
    cache.close()


def test_mode_is_validated_and_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="off.*record.*replay"):
        ResponseCache(tmp_path / "c.sqlite", "sometimes")  # type: ignore[arg-type]
    assert default_cache_mode() == "record"
    monkeypatch.setenv("SUBTERRA_CACHE_MODE", "replay")
    assert default_cache_mode() == "replay"
    monkeypatch.setenv("SUBTERRA_CACHE_MODE", "bogus")
    with pytest.raises(ValueError, match="SUBTERRA_CACHE_MODE"):
        default_cache_mode()


def test_default_path_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SUBTERRA_CACHE_DIR", str(tmp_path / "here"))
    assert ResponseCache().path == tmp_path / "here" / "llm.sqlite"
    monkeypatch.delenv("SUBTERRA_CACHE_DIR")
    assert ResponseCache().path == Path(".subterra/cache/llm.sqlite")


def test_offline_and_local_models_are_not_cached_unless_asked(tmp_path: Path) -> None:
    assert get_model("offline").cache is None
    explicit = get_model("offline", cache="record", cache_path=tmp_path / "c.sqlite")
    assert explicit.cache is not None and explicit.cache.mode == "record"


@pytest.mark.parametrize("api", ["anthropic", "openai"])
def test_replay_makes_no_network_calls_and_gives_identical_results(
    api: str, tmp_path: Path
) -> None:
    spec = {"anthropic": "anthropic:claude-haiku-4-5", "openai": "openai:gpt-4.1"}[api]
    path = tmp_path / "llm.sqlite"
    requests = [
        ChatRequest(messages=(Message(role="user", content=f"q{i}"),), trial=i % 2, purpose="p")
        for i in range(6)
    ]
    with FakeLLMServer(api) as server:
        options = {"api_key": server.api_key, "base_url": server.base_url, "cache_path": path}
        recorder = get_model(spec, cache="record", **options)
        recorded = answers(recorder, *requests)
        assert len(server.requests) == 6
        server.reset()
        replayer = get_model(spec, cache="replay", **options)
        replayed = answers(replayer, *requests)
        with pytest.raises(CacheMissError, match=spec) as miss:
            answer(get_model(spec, cache="replay", **options),
                   ChatRequest(messages=(Message(role="user", content="new"),)))
        assert server.requests == []
    assert [r.model_dump_json(exclude={"cached"}) for r in replayed] == [
        r.model_dump_json(exclude={"cached"}) for r in recorded
    ]
    assert all(r.cached for r in replayed) and not any(r.cached for r in recorded)
    assert replayer.usage == recorder.usage         # a replayed call counts the tokens it stands for
    assert "'new'" in str(miss.value)


@pytest.mark.parametrize("api", ["anthropic", "openai"])
def test_api_keys_never_reach_the_cache_file(api: str, tmp_path: Path) -> None:
    secret = "sk-SECRET-do-not-store-0123456789"
    spec = {"anthropic": "anthropic:claude-haiku-4-5", "openai": "openai:gpt-4.1"}[api]
    with FakeLLMServer(api, api_key=secret) as server:
        model = get_model(
            spec, api_key=secret, base_url=server.base_url, cache_path=tmp_path / "llm.sqlite"
        )
        answers(model, *(ChatRequest(messages=(Message(role="user", content=f"q{i}"),)) for i in range(3)))
        assert len(server.requests) == 3
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"q2" in stored  # the requests are there...
    assert secret.encode() not in stored  # ...the key is not
    assert b"authorization" not in stored.lower() and b"x-api-key" not in stored.lower()


_HAMMER = """
import sys
from harness.llm.base import ChatRequest, ChatResult, Message, Usage
from harness.llm.cache import ResponseCache, cache_key

path, worker = sys.argv[1], int(sys.argv[2])
cache = ResponseCache(path, "record")
for i in range(120):
    text = f"shared {i}" if i % 2 == 0 else f"worker {worker} item {i}"
    request = ChatRequest(messages=(Message(role="user", content=text),))
    key = cache_key("fake", "m", request)
    answer = ChatResult(text="answer " + text, usage=Usage(input_tokens=1, output_tokens=2, calls=1), model="m")
    cache.put(key, "fake", "m", request, answer)
    got = cache.get(key)
    assert got is not None and got.text == answer.text, got
cache.close()
"""


def test_eight_processes_share_one_cache_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _HAMMER, str(path), str(n)], stderr=subprocess.PIPE, text=True
        )
        for n in range(8)
    ]
    failures = [(w.args[-1], w.stderr.read()) for w in workers if w.wait(timeout=120) != 0]
    assert failures == []
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT COUNT(*) FROM responses").fetchone() == (60 + 8 * 60,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def _open_fresh_files(worker: int, folder: str, rounds: int, barrier) -> list[str]:
    """Every round, all workers open the same NEW cache file at once and write to it."""
    from harness.llm.base import ChatRequest, ChatResult, Message, Usage
    from harness.llm.cache import ResponseCache, cache_key

    errors = []
    for r in range(rounds):
        barrier.wait()
        cache = ResponseCache(Path(folder) / f"round{r}.sqlite", "record")
        try:
            for text in ("shared", f"worker {worker}"):
                request = ChatRequest(messages=(Message(role="user", content=text),))
                key = cache_key("fake", "m", request)
                cache.put(key, "fake", "m", request, ChatResult(text=text, usage=Usage(calls=1), model="m"))
                if cache.get(key) is None:
                    errors.append(f"round {r}: entry lost")
        except Exception as e:  # noqa: BLE001 - the test counts every failure, of any kind
            errors.append(f"round {r}: {type(e).__name__}: {e}")
        finally:
            cache.close()
    return errors


def test_eight_processes_open_a_new_cache_file_at_once(tmp_path: Path) -> None:
    import multiprocessing

    rounds = 40                     # the unlocked setup failed ~2 rounds in 60
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(8)
        with ctx.Pool(8) as pool:
            results = pool.starmap(_open_fresh_files, [(w, str(tmp_path), rounds, barrier) for w in range(8)])
    assert [e for errors in results for e in errors] == []
    for r in range(rounds):
        with sqlite3.connect(tmp_path / f"round{r}.sqlite") as db:
            assert db.execute("SELECT COUNT(*) FROM responses").fetchone() == (1 + 8,)


def test_sqlite_failure_is_an_llm_error(tmp_path: Path) -> None:
    from harness.llm.cache import ResponseCache
    from harness.llm.errors import LLMError

    path = tmp_path / "not-a-db.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LLMError, match="not-a-db.sqlite"):
        len(ResponseCache(path))
