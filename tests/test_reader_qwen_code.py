"""Qwen Code reader: OpenAI-shaped Gemini usage, branch copies, subagents, workspace, append."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
from tokscope.readers import get_reader
from tokscope.readers.qwen_code import QwenCodeReader

from tokscope.ledger import Ledger
from tokscope.scan import frame_of, scan

API = "/home/bob/src/api"


def rec(uuid: str | None, usage: dict[str, int] | None, session: str = "sess-1", **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "uuid": uuid,
        "parentUuid": None,
        "sessionId": session,
        "timestamp": "2026-03-02T13:01:02.000Z",
        "type": "assistant",
        "cwd": API,
        "version": "0.9.0",
        "model": "qwen3-coder-plus",
        "message": {"role": "model", "parts": [{"text": "ok"}]},
    }
    if uuid is None:
        del record["uuid"]
    if usage is not None:
        record["usageMetadata"] = usage
    record.update(extra)
    return record


def usage(prompt: int, cand: int, total: int, cached: int = 0, thoughts: int = 0) -> dict[str, int]:
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": cand,
        "thoughtsTokenCount": thoughts,
        "cachedContentTokenCount": cached,
        "totalTokenCount": total,
    }


def write(path: Path, records: list[Any], tail: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)
    return path


def setup_tree(base: Path) -> dict[str, Path]:
    projects = base / "projects"
    a1 = rec("a1", usage(15200, 380, 15580, cached=12800))
    main = write(
        projects / "-home-bob-src-api" / "chats" / "sess-1.jsonl",
        [
            {**rec("u1", None), "type": "user"},
            # OpenAI-compatible backend: total = prompt + completion -> cached inside, no thoughts
            a1,
            # reasoning inside candidates (total = 1000 + 300): not added again
            rec("a2", usage(1000, 300, 1300, cached=400, thoughts=100)),
            # Gemini backend: total = 2000 + 50 + 30 -> thoughts outside candidates
            rec("a3", usage(2000, 50, 2080, thoughts=30), model="gemini-2.5-flash"),
            rec("a4", None),  # no usage
            rec("a5", usage(0, 0, 0)),  # all zero
            {**rec("a6", usage(9, 9, 18)), "type": "system"},  # not an assistant record
            rec(None, usage(10, 5, 15)),  # no uuid: keyed on session + byte offset
            rec("sub1", usage(300, 30, 330), agentName="Explore", isSidechain=True, agentId="explore-7f3c"),
        ],
        tail='{"uuid":"bad","type":"assistant","usageMetadata":{"promptTokenCount":\n',
    )
    # /branch: the records are copied verbatim with their uuid into a new session file
    branch = write(
        projects / "-home-bob-src-api" / "chats" / "sess-2.jsonl",
        [
            {**a1, "sessionId": "sess-2", "forkedFrom": {"sessionId": "sess-1", "messageUuid": "a1"}},
            rec("b1", usage(500, 50, 550, cached=100), session="sess-2"),
        ],
    )
    # no cwd on the record: the project dir name decoded
    web = rec("w1", usage(100, 10, 110), session="s3", model="deepseek-chat")
    del web["cwd"]
    write(projects / "-home-bob-src-web" / "chats" / "s3.jsonl", [web])
    # not under chats/: ignored
    write(projects / "-home-bob-src-web" / "other.jsonl", [rec("x1", usage(1, 1, 2))])
    return {"main": main, "branch": branch}


def sums(frame: pl.DataFrame) -> dict[str, int]:
    return {c: int(frame[c].sum()) for c in ("input", "output", "reasoning", "cache_read")}


def test_fixture_totals(home: Path) -> None:
    setup_tree(home / ".qwen")
    reader = get_reader("qwen-code")
    frame = frame_of([reader])
    by_key = {r["event_key"]: r for r in frame.iter_rows(named=True)}
    no_uuid = next(k for k in by_key if k.startswith("sess-1:"))
    assert sorted(by_key) == sorted(["a1", "a2", "a3", no_uuid, "sub1", "b1", "w1"])
    # a1: 15200-12800 = 2400 in, 380 out, 12800 cached (counted once across the branch copy)
    # a2: 1000-400 = 600 in, 300 out (100 reasoning inside), 400 cached
    # a3: 2000 in, 50+30 = 80 out, 30 reasoning
    # no uuid: 10 in, 5 out; sub1: 300 in, 30 out; b1: 500-100 = 400 in, 50 out, 100 cached; w1: 100 in, 10 out
    assert sums(frame) == {
        "input": 2400 + 600 + 2000 + 10 + 300 + 400 + 100,  # 5810
        "output": 380 + 300 + 80 + 5 + 30 + 50 + 10,  # 855
        "reasoning": 100 + 30,  # 130
        "cache_read": 12800 + 400 + 100,  # 13300
    }
    assert by_key["sub1"]["agent"] == "Explore"
    assert by_key["sub1"]["session_id"] == "sess-1"
    assert by_key["a2"]["agent"] is None
    assert by_key["a2"]["workspace"] == API
    assert by_key["w1"]["workspace"] == "/home/bob/src/web"
    assert by_key["a3"]["provider"] == "google"
    assert by_key["w1"]["provider"] == "deepseek"
    assert by_key["a2"]["provider"] == "alibaba"  # one name for qwen models in every client (providers.py)


def test_malformed_line_skipped(home: Path) -> None:
    paths = setup_tree(home / ".qwen")
    reader = QwenCodeReader()
    source = next(s for s in reader.discover([]) if s.path == paths["main"])
    result = reader.read(source, 0, {})
    assert result.skipped == 1
    assert len(result.rows) == 5


def test_env_overrides(home: Path, monkeypatch) -> None:
    setup_tree(home / ".qwen")  # hidden by QWEN_HOME
    write(home / "qh" / "projects" / "p" / "chats" / "s.jsonl", [rec("h1", usage(7, 3, 10))])
    write(home / "rt" / "projects" / "p" / "chats" / "s.jsonl", [rec("r1", usage(7, 3, 10))])
    monkeypatch.setenv("QWEN_HOME", "~/qh")
    monkeypatch.setenv("QWEN_RUNTIME_DIR", str(home / "rt"))
    assert sorted(frame_of([QwenCodeReader()])["event_key"].to_list()) == ["h1", "r1"]


def test_incremental_append(home: Path) -> None:
    paths = setup_tree(home / ".qwen")
    ledger = Ledger(home / "ledger")
    reader = QwenCodeReader()
    scan(ledger=ledger, readers=[reader], workers=1)
    before = sums(ledger.frame())
    assert ledger.frame().height == 7

    # a new turn, and a half-written line that must wait for its newline
    line = json.dumps(rec("c1", usage(2000, 100, 2100, cached=1500)))
    with paths["main"].open("a") as fh:
        fh.write(json.dumps(rec("a7", usage(50, 5, 55))) + "\n" + line[:40])
    summary = scan(ledger=ledger, readers=[reader], workers=1)
    assert summary.read == 1
    assert sums(ledger.frame())["input"] == before["input"] + 50
    with paths["main"].open("a") as fh:
        fh.write(line[40:] + "\n")
    scan(ledger=ledger, readers=[reader], workers=1)
    after = sums(ledger.frame())
    # a7: 50 in, 5 out; c1: 2000-1500 = 500 in, 100 out, 1500 cached
    assert after["input"] == before["input"] + 50 + 500
    assert after["output"] == before["output"] + 5 + 100
    assert after["cache_read"] == before["cache_read"] + 1500
    assert ledger.frame().height == 9


def test_qwen_models_group_as_alibaba_in_every_client() -> None:
    from tokscope.readers import opencode, qwen_code

    assert qwen_code._provider("qwen3-coder-plus") == "alibaba"
    assert qwen_code._provider("coder-model") == "alibaba"  # Qwen OAuth's own alias: not in the table
    assert qwen_code._provider("glm-4.6") == "zai"
    turn = opencode._parse(opencode._decode_message(
        b'{"role":"assistant","modelID":"qwen3-coder","providerID":"qwen","time":{"created":1772445307412},'
        b'"tokens":{"input":1,"output":1}}'
    ), "m1", "s1")  # fmt: skip
    assert turn is not None and turn.provider == "alibaba"


def test_declares_its_variables() -> None:
    from tokscope.readers import get_reader

    assert set(get_reader("qwen-code").env) == {"QWEN_HOME", "QWEN_RUNTIME_DIR"}
