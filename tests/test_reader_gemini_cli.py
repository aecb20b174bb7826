"""Gemini CLI reader: JSON (whole) and JSONL (append) sessions, cached ⊂ input, thoughts, workspaces."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import polars as pl
from tokscope.readers import get_reader
from tokscope.readers.gemini_cli import GeminiCliReader, split_usage

from tokscope.ledger import Ledger
from tokscope.scan import frame_of, scan

APP = "/home/alice/src/app"
OLD = "/home/alice/src/old"
OLD_HASH = hashlib.sha256(OLD.encode()).hexdigest()
APP_HASH = hashlib.sha256(APP.encode()).hexdigest()
UNKNOWN = "f" * 64


def gem(mid: str, tokens: dict[str, int] | None, ts: str = "2026-03-02T11:20:31.118Z", model: str = "gemini-2.5-pro"):
    msg: dict[str, Any] = {"id": mid, "timestamp": ts, "type": "gemini", "content": "...", "model": model}
    if tokens is not None:
        msg["tokens"] = tokens
    return msg


def user(mid: str) -> dict[str, Any]:
    return {"id": mid, "timestamp": "2026-03-02T11:20:00Z", "type": "user", "content": "hi"}


def write_jsonl(path: Path, records: list[Any], raw_tail: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + raw_tail)
    return path


def append_jsonl(path: Path, records: list[Any]) -> None:
    with path.open("a") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in records))


def setup_tree(home: Path) -> dict[str, Path]:
    gemini = home / ".gemini"
    tmp = gemini / "tmp"
    (tmp / "app").mkdir(parents=True)
    # readable slug dir with its ownership marker; the registry also maps OLD (hash dir of an older client)
    (tmp / "app" / ".project_root").write_text(APP + "\n")
    (gemini / "projects.json").write_text(json.dumps({"projects": {APP: "app", OLD: "old"}}))
    paths: dict[str, Path] = {}

    # 1. legacy whole-session JSON under a hash dir (workspace via sha256 of the registry's path)
    legacy = {
        "sessionId": "aaaa1111-legacy",
        "projectHash": OLD_HASH,
        "startTime": "2026-03-01T10:00:00Z",
        "lastUpdated": "2026-03-01T10:30:00Z",
        "messages": [
            user("u0"),
            # total = 18450 + 612 + 940 + 0 = 20002: cached inside input -> 2450 uncached
            gem("m1", {"input": 18450, "output": 612, "cached": 16000, "thoughts": 940, "tool": 0, "total": 20002}),
            # m2 twice: the first (partial) copy loses to the last one
            gem("m2", {"input": 100, "output": 10, "cached": 0, "thoughts": 0, "tool": 0, "total": 110}),
            # total = 1000 + 50 + 4000: cached counted separately -> not subtracted
            gem("m3", {"input": 1000, "output": 50, "cached": 4000, "thoughts": 0, "tool": 0, "total": 5050}),
            gem("m2", {"input": 5000, "output": 200, "cached": 0, "thoughts": 0, "tool": 300, "total": 5500}),
            gem("z0", {"input": 0, "output": 0, "cached": 0, "thoughts": 0, "tool": 0, "total": 0}),  # all zero
            {"id": "i0", "type": "info", "timestamp": "2026-03-01T10:00:00Z", "tokens": {"input": 9, "output": 9}},
        ],
    }
    path = tmp / OLD_HASH / "chats" / "session-2026-03-01T10-00-aaaa1111.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(legacy, indent=2))
    paths["legacy"] = path

    # 2. JSONL recording under the slug dir
    paths["jsonl"] = write_jsonl(
        tmp / "app" / "chats" / "session-2026-03-02T11-20-bbbb2222.jsonl",
        [
            {"sessionId": "bbbb2222-full", "projectHash": APP_HASH, "startTime": "2026-03-02T11:19:00Z"},
            user("u1"),
            gem("g1", None),  # pushed before its tokens arrive
            # total = 3000 + 100 + 50: cached inside; thoughts outside output
            gem("g1", {"input": 3000, "output": 100, "cached": 1000, "thoughts": 50, "tool": 0, "total": 3150}),
            # a metadata update re-listing messages (with other numbers) is ignored
            {"$set": {"messages": [gem("g1", {"input": 99999, "output": 1, "total": 100000})]}},
            {"$rewindTo": "g1"},  # rewound turns were still billed
            # no total: Gemini semantics (cached inside prompt) -> 800 - 300
            gem("g2", {"input": 800, "output": 20, "cached": 300}),
        ],
        raw_tail='{"id":"bad","type":"gemini","tokens":{"input":\n',  # malformed line: skipped, counted
    )

    # 3. subagent recording nested under the parent session id
    paths["sub"] = write_jsonl(
        tmp / "app" / "chats" / "bbbb2222-full" / "sub-1.jsonl",
        [
            {"sessionId": "sub-1", "projectHash": APP_HASH, "kind": "subagent", "directories": [APP]},
            gem("s1", {"input": 400, "output": 40, "cached": 0, "thoughts": 10, "tool": 0, "total": 450}),
        ],
    )

    # 4. a resumed .json session migrated by the client to .jsonl: same message id in both files
    resumed = {"sessionId": "cccc3333", "projectHash": APP_HASH, "messages": [gem("c1", {"input": 100, "output": 10})]}
    (tmp / "app" / "chats" / "session-2026-03-01T09-00-cccc3333.json").write_text(json.dumps(resumed))
    write_jsonl(
        tmp / "app" / "chats" / "session-2026-03-01T09-00-cccc3333.jsonl",
        [{"sessionId": "cccc3333", "projectHash": APP_HASH}, gem("c1", {"input": 100, "output": 10})],
    )

    # 5. an unknown project hash: the workspace stays the hash
    write_jsonl(
        tmp / UNKNOWN / "chats" / "session-x.jsonl",
        [{"sessionId": "xxxx", "projectHash": UNKNOWN}, gem("u1x", {"input": 10, "output": 5, "total": 15})],
    )

    # not session files: ignored
    (tmp / "app" / "logs.json").write_text(json.dumps([{"tokens": {"input": 1}}]))
    (tmp / "app" / "checkpoint-a.json").write_text(json.dumps({"tokens": {"input": 1}}))
    return paths


def sums(frame: pl.DataFrame) -> dict[str, int]:
    return {c: int(frame[c].sum()) for c in ("input", "output", "reasoning", "cache_read", "cache_write_5m")}


def test_split_usage_readings() -> None:
    # Gemini API: total = prompt + candidates + thoughts + tool; cached inside prompt
    assert split_usage(18450, 612, 940, 16000, 0, 20002, thoughts_in_output=False) == (2450, 1552, 940, 16000)
    # OpenAI-compatible (Qwen): total = prompt + completion; reasoning inside completion
    assert split_usage(1000, 300, 100, 400, 0, 1300, thoughts_in_output=True) == (600, 300, 100, 400)
    # cached larger than prompt cannot be a part of it
    assert split_usage(10, 5, 0, 50, 0, 0, thoughts_in_output=False) == (10, 5, 0, 50)


def test_fixture_totals(home: Path) -> None:
    setup_tree(home)
    reader = get_reader("gemini-cli")
    errors: list[str] = []
    sources = reader.discover(errors)
    names = sorted(s.path.name for s in sources)
    assert errors == []
    assert "logs.json" not in names and "checkpoint-a.json" not in names
    assert {s.mode for s in sources if s.path.suffix == ".json"} == {"whole"}
    assert {s.mode for s in sources if s.path.suffix == ".jsonl"} == {"append"}

    frame = frame_of([reader])
    by_key = {r["event_key"]: r for r in frame.iter_rows(named=True)}
    assert sorted(by_key) == ["c1", "g1", "g2", "m1", "m2", "m3", "s1", "u1x"]
    # m1: 18450-16000 = 2450 in, 612+940 = 1552 out, 940 reasoning, 16000 cached
    # m2: last copy 5000 + 300 tool = 5300 in, 200 out
    # m3: cached exclusive: 1000 in, 50 out, 4000 cached
    # g1: 3000-1000 = 2000 in, 100+50 = 150 out, 50 reasoning, 1000 cached
    # g2: 800-300 = 500 in, 20 out, 300 cached
    # s1: 400 in, 40+10 = 50 out, 10 reasoning
    # c1: 100 in, 10 out (once, though in two files);  u1x: 10 in, 5 out
    assert sums(frame) == {
        "input": 2450 + 5300 + 1000 + 2000 + 500 + 400 + 100 + 10,  # 11760
        "output": 1552 + 200 + 50 + 150 + 20 + 50 + 10 + 5,  # 2037
        "reasoning": 940 + 50 + 10,  # 1000
        "cache_read": 16000 + 4000 + 1000 + 300,  # 21300
        "cache_write_5m": 0,
    }
    assert by_key["m1"]["workspace"] == OLD  # hash dir -> sha256 match in projects.json
    assert by_key["m1"]["session_id"] == "aaaa1111-legacy"
    assert by_key["g1"]["workspace"] == APP  # .project_root marker
    assert by_key["g1"]["session_id"] == "bbbb2222-full"
    assert by_key["g1"]["agent"] is None
    assert by_key["s1"]["session_id"] == "bbbb2222-full"  # the parent session
    assert by_key["s1"]["agent"] == "subagent"
    assert by_key["u1x"]["workspace"] == UNKNOWN
    assert set(frame["provider"].to_list()) == {"google"}
    assert by_key["m1"]["ts"].isoformat().startswith("2026-03-02T11:20:31.118")


def test_malformed_line_counted(home: Path) -> None:
    paths = setup_tree(home)
    reader = GeminiCliReader()
    result = reader.read(next(s for s in reader.discover([]) if s.path == paths["jsonl"]), 0, {})
    assert result.skipped == 1
    assert [r.event_key for r in result.rows] == ["g1", "g2"]
    assert result.offset == paths["jsonl"].stat().st_size  # the malformed line ends with a newline


def test_gemini_cli_home_override(home: Path, monkeypatch) -> None:
    other = home / "elsewhere"
    write_jsonl(
        other / ".gemini" / "tmp" / "p" / "chats" / "session-1.jsonl",
        [{"sessionId": "s", "projectHash": "h"}, gem("o1", {"input": 7, "output": 3, "total": 10})],
    )
    setup_tree(home)  # the default tree is no longer read
    monkeypatch.setenv("GEMINI_CLI_HOME", str(other))
    frame = frame_of([GeminiCliReader()])
    assert frame["event_key"].to_list() == ["o1"]


def test_incremental_append_and_rewrite(home: Path) -> None:
    paths = setup_tree(home)
    ledger = Ledger(home / "ledger")
    reader = GeminiCliReader()
    scan(ledger=ledger, readers=[reader], workers=1)
    before = sums(ledger.frame())

    # append: g2 written again (now with its total; same numbers) and a new message g3
    # (the malformed tail was a complete line, so the offset is past it)
    append_jsonl(
        paths["jsonl"],
        [
            gem("g2", {"input": 800, "output": 20, "cached": 300, "thoughts": 0, "tool": 0, "total": 820}),
            gem("g3", {"input": 250, "output": 30, "cached": 200, "thoughts": 5, "tool": 0, "total": 285}),
        ],
    )
    # rewrite the whole JSON: m2 grows (a later update of the same id), a new m4 arrives
    legacy = json.loads(paths["legacy"].read_text())
    legacy["messages"].append(gem("m2", {"input": 6000, "output": 300, "tool": 300, "total": 6600}))
    legacy["messages"].append(gem("m4", {"input": 40, "output": 4, "total": 44}))
    paths["legacy"].write_text(json.dumps(legacy))
    st = paths["legacy"].stat()
    os.utime(paths["legacy"], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))

    summary = scan(ledger=ledger, readers=[reader], workers=1)
    assert summary.read == 2
    frame = ledger.frame()
    assert frame.height == 10
    after = sums(frame)
    # g3: 250-200 = 50 in, 30+5 = 35 out, 5 reasoning, 200 cached
    # m2: 5300 in / 200 out replaced by 6300 in / 300 out; m4: 40 in, 4 out
    assert after["input"] == before["input"] + 50 + (6300 - 5300) + 40
    assert after["output"] == before["output"] + 35 + (300 - 200) + 4
    assert after["reasoning"] == before["reasoning"] + 5
    assert after["cache_read"] == before["cache_read"] + 200

    # nothing changed: nothing read
    assert scan(ledger=ledger, readers=[reader], workers=1).read == 0


def _in_time(call: Any, seconds: float = 10.0) -> Any:
    """``call()``, failing the test (not hanging it) if it does not return in time."""
    import threading

    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "hung"
    return out[0]


def test_fifo_side_files_do_not_hang(home: Path) -> None:
    gemini = home / ".gemini"
    path = write_jsonl(
        gemini / "tmp" / "app" / "chats" / "session-1.jsonl",
        [{"sessionId": "s", "projectHash": APP_HASH}, gem("f1", {"input": 7, "output": 3, "total": 10})],
    )
    os.mkfifo(gemini / "tmp" / "app" / ".project_root")
    os.mkfifo(gemini / "projects.json")
    reader = GeminiCliReader()
    source = next(s for s in reader.discover([]) if s.path == path)
    result = _in_time(lambda: reader.read(source, 0, {}))
    assert [(r.event_key, r.workspace, r.input) for r in result.rows] == [("f1", "app", 7)]  # the dir name


def _session(messages: list[Any]) -> dict[str, Any]:
    return {"sessionId": "bad-1", "projectHash": APP_HASH, "messages": messages}


def _read_json(home: Path, data: bytes) -> Any:
    path = home / ".gemini" / "tmp" / "app" / "chats" / "session-bad.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    reader = GeminiCliReader()
    return reader.read(next(s for s in reader.discover([]) if s.path == path), 0, {})


GOOD = gem("ok1", {"input": 50, "output": 5, "cached": 10, "total": 55})  # 40 in, 5 out, 10 cached


def test_json_with_bom(home: Path) -> None:
    result = _read_json(home, b"\xef\xbb\xbf" + json.dumps(_session([GOOD])).encode())
    assert [(r.event_key, r.input, r.output, r.cache_read) for r in result.rows] == [("ok1", 40, 5, 10)]
    assert result.skipped == 0


def test_json_mistyped_message_costs_itself(home: Path) -> None:
    bad_tokens = {**gem("bad", None), "tokens": "lots"}
    result = _read_json(home, json.dumps(_session(["not a message", bad_tokens, GOOD])).encode())
    assert [r.event_key for r in result.rows] == ["ok1"]
    assert result.skipped == 2 and result.reasons == {"malformed message": 2}


def test_json_out_of_range_number_costs_its_message(home: Path) -> None:
    text = json.dumps(_session([gem("huge", {"input": 7, "output": 1}), GOOD])).replace('"input": 7', '"input": 1e400')
    result = _read_json(home, text.encode())
    assert [r.event_key for r in result.rows] == ["ok1"]
    assert result.skipped == 1


def test_json_nested_too_deep_is_a_counted_skip(home: Path) -> None:
    # msgspec cannot even skip over a value nested this deep, so the file is the unit here: no traceback, one skip
    deep = json.dumps({"id": "deep", "type": "gemini", "content": [[]]}).replace("[[]]", "[" * 5000 + "]" * 5000)
    text = json.dumps(_session(["PLACEHOLDER", GOOD])).replace('"PLACEHOLDER"', deep)
    result = _read_json(home, text.encode())
    assert result.rows == [] and result.reasons == {"malformed session file": 1} and result.errors == []


def test_jsonl_deeply_nested_line_costs_itself(home: Path) -> None:
    deep = '{"id": "deep", "type": "gemini", "tokens": {"input": 5}, "content": ' + "[" * 5000 + "]" * 5000 + "}"
    path = write_jsonl(
        home / ".gemini" / "tmp" / "app" / "chats" / "session-deep.jsonl",
        [{"sessionId": "s", "projectHash": APP_HASH}],
        raw_tail=deep + "\n" + json.dumps(gem("after", {"input": 3, "output": 1})) + "\n",
    )
    reader = GeminiCliReader()
    result = reader.read(next(s for s in reader.discover([]) if s.path == path), 0, {})
    assert [r.event_key for r in result.rows] == ["after"] and result.skipped == 1
