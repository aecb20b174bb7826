"""LM Studio reader: usage objects of the local server's pretty-printed responses in server-logs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tokscope.readers import get_reader, lmstudio
from tokscope.readers.lmstudio import LMStudioReader

from tests.session_totals_helpers import check_declared_env, ledger_scan, pick, totals, us

LOGS = ".lmstudio/server-logs/2026-11"


def response(rid: str, model: str, usage: dict, created: int | None = 1_763_632_800, content: str = "Hello!") -> str:
    """A Chat Completions response as LM Studio pretty-prints it."""
    body: dict = {"id": rid, "object": "chat.completion"}
    if created is not None:
        body["created"] = created
    body |= {
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": usage,
        "stats": {},
        "system_fingerprint": model,
    }
    return json.dumps(body, indent=2)


def entry(stamp: str, model: str, body: str) -> str:
    request = json.dumps({"model": model, "messages": [{"role": "user", "content": 'hi {braces} "usage": {'}]})
    return (
        f"[{stamp}][INFO] Received POST request to /v1/chat/completions with body: {request}\n"
        f"[{stamp}][INFO][{model}] Running chat completion on conversation with 1 messages.\n"
        f"[{stamp}][INFO][{model}] Generated prediction: {body}\n"
    )


CHAT = entry(
    "2026-11-20 10:00:00",
    "qwen2.5-coder-7b-instruct",
    response(
        "chatcmpl-aaa",
        "qwen2.5-coder-7b-instruct",
        {
            "prompt_tokens": 100,
            "completion_tokens": 12,
            "total_tokens": 112,
            "prompt_tokens_details": {"cached_tokens": 40},
            "completion_tokens_details": {"reasoning_tokens": 5},
        },
        content='{"id":"chatcmpl-fake","model":"fake-model","usage":{"prompt_tokens":999}}',
    ),
)
RESPONSES = entry(
    "2026-11-20 11:30:00",
    "openai/gpt-oss-20b",
    json.dumps(
        {
            "id": "resp_bbb",
            "object": "response",
            "created_at": 1_763_638_200,
            "model": "openai/gpt-oss-20b",
            "output": [{"type": "reasoning", "id": "rs_1"}, {"type": "message", "id": "msg_1"}],
            "usage": {
                "input_tokens": 100,
                "output_tokens": 40,
                "total_tokens": 140,
                "input_tokens_details": {"cached_tokens": 30},
                "output_tokens_details": {"reasoning_tokens": 10},
            },
        },
        indent=2,
    ),
)
#: no id, no created: the local-time line stamp and a byte-offset key; a tool call id is not the response's
NO_ID = entry(
    "2026-11-20 12:00:00",
    "llama-3.2-3b",
    json.dumps(
        {
            "object": "chat.completion",
            "model": "llama-3.2-3b",
            "choices": [{"message": {"tool_calls": [{"id": "call_1", "type": "function"}]}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        },
        indent=2,
    ),
)
ZERO = '[2026-11-20 12:01:00][INFO] {\n  "usage": {\n    "prompt_tokens": 0\n  }\n}\n'


def write(home: Path, *parts: str, name: str = "2026-11-20.1.log") -> Path:
    path = home / LOGS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(parts))
    return path


def lmstudio_tree(home: Path) -> Path:
    return write(home, CHAT, RESPONSES, NO_ID, ZERO)


def read(path: Path, offset: int = 0):
    return LMStudioReader().read(lmstudio.Source("lmstudio", path, "append"), offset, {})


def test_registered() -> None:
    reader = get_reader("lmstudio")
    assert isinstance(reader, LMStudioReader) and reader.fidelity == "exact"
    assert reader.env == ()


def test_rows(home: Path) -> None:
    path = lmstudio_tree(home)
    result = read(path)
    # consumed up to the line that closes the last record's usage; the text after it waits for the next one
    assert result.offset == path.stat().st_size - len("}\n") and result.skipped == 0
    rows = {r.event_key: r for r in result.rows}
    no_id = path.read_bytes().index(b'"usage"', len(CHAT) + len(RESPONSES))
    assert sorted(rows) == [f"2026-11-20.1.log@{no_id}", "chatcmpl-aaa", "resp_bbb"]
    chat = rows["chatcmpl-aaa"]
    # prompt includes cache; reasoning inside completion
    assert pick(chat, "model", "provider", "input", "output", "reasoning", "cache_read", "cache_write_5m") == (
        "qwen2.5-coder-7b-instruct",
        "lmstudio",
        60,
        12,
        5,
        40,
        0,
    )
    assert chat.ts == 1_763_632_800 * 1_000_000  # the response's created (UTC epoch)
    assert chat.source_cost == 0.0 and chat.session_id == "2026-11-20.1"
    resp = rows["resp_bbb"]
    assert pick(resp, "model", "input", "output", "reasoning", "cache_read") == ("openai/gpt-oss-20b", 70, 40, 10, 30)
    assert resp.ts == 1_763_638_200 * 1_000_000


def test_local_time_stamp_when_no_created(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(home, NO_ID)
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        (row,) = read(path).rows
    finally:
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()
    assert row.ts == us("2026-11-20T11:00:00")  # 12:00 in Berlin (CET, UTC+1)
    assert row.model == "llama-3.2-3b" and row.event_key.startswith("2026-11-20.1.log@")


def test_appended_records_are_read_from_the_offset(home: Path) -> None:
    path = write(home, CHAT)
    first = read(path)
    assert [r.event_key for r in first.rows] == ["chatcmpl-aaa"]
    half = RESPONSES[: RESPONSES.index('"total_tokens"')]
    with path.open("a") as fh:
        fh.write(half)  # the server is mid-write: nothing consumed
    second = read(path, first.offset)
    assert second.rows == [] and second.offset == first.offset
    with path.open("a") as fh:
        fh.write(RESPONSES[len(half) :])
    third = read(path, second.offset)
    assert [r.event_key for r in third.rows] == ["resp_bbb"] and third.offset == path.stat().st_size - len("}\n")
    assert read(path, third.offset).rows == []


def test_marker_split_at_a_chunk_edge(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = lmstudio_tree(home)
    whole = {r.event_key for r in read(path).rows}
    for chunk in (7, 64, 333):
        monkeypatch.setattr(lmstudio, "CHUNK", chunk)
        assert {r.event_key for r in read(path).rows} == whole


def test_log_larger_than_the_window_loses_nothing(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lmstudio, "WINDOW", 4096)
    monkeypatch.setattr(lmstudio, "CHUNK", 1024)
    parts = []
    for i in range(40):
        usage = {"prompt_tokens": 10 + i, "completion_tokens": 5, "total_tokens": 15 + i}
        parts.append("[2026-11-20 10:00:00][DEBUG] " + "p" * 300 + "\n")
        parts.append(entry("2026-11-20 10:00:01", "m", response(f"chatcmpl-{i}", "m", usage)))
    path = write(home, *parts)
    rows = read(path).rows
    assert [r.input for r in rows] == [10 + i for i in range(40)]


def test_malformed_usage_counted(home: Path) -> None:
    path = write(
        home, '[2026-11-20 10:00:00][INFO] {\n  "id": "chatcmpl-x",\n  "usage": {"prompt_tokens": [1}}\n}\n', CHAT
    )
    result = read(path)
    assert [r.event_key for r in result.rows] == ["chatcmpl-aaa"] and result.reasons == {"malformed usage": 1}


def test_home_pointer_and_old_cache_home(home: Path) -> None:
    moved = home / "big-disk" / "lmstudio"
    (home / ".lmstudio-home-pointer").write_text(f"{moved}\n")
    (moved / "server-logs").mkdir(parents=True)
    (moved / "server-logs" / "a.log").write_text(CHAT)
    old = home / ".cache" / "lm-studio" / "server-logs"
    old.mkdir(parents=True)
    (old / "b.log").write_text(RESPONSES)
    assert sorted(s.path.name for s in LMStudioReader().discover([])) == ["a.log", "b.log"]


def test_scan_counts_each_response_once(home: Path) -> None:
    path = lmstudio_tree(home)
    ledger_scan(home, LMStudioReader())
    with path.open("a") as fh:
        fh.write(CHAT.replace("chatcmpl-aaa", "chatcmpl-ccc"))
    _, frame = ledger_scan(home, LMStudioReader())
    assert frame.height == 4
    assert totals(frame)["input"] == 60 + 70 + 7 + 60


def test_declared_env_is_empty() -> None:
    with pytest.raises(AssertionError):  # the helper insists on at least one: LM Studio reads none
        check_declared_env(LMStudioReader())


def test_brace_inside_a_string_of_the_usage_object(home: Path) -> None:
    odd = (
        '[2026-11-20 10:00:00][INFO] {\n  "id": "chatcmpl-odd",\n'
        '  "usage": {"prompt_tokens": 9, "note": "a } b", "completion_tokens": 2}\n}\n'
    )
    path = write(home, odd, CHAT)
    result = read(path)
    assert [(r.event_key, r.input, r.output) for r in result.rows] == [("chatcmpl-odd", 9, 2), ("chatcmpl-aaa", 60, 12)]
    assert result.skipped == 0
