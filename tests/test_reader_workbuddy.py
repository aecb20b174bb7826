"""WorkBuddy reader: rawUsage only (never message.usage: the 2x trap), cache split, message/function-call copies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tokscope.readers import get_reader

from tokscope.scan import frame_of

SESSION = "d2f054aa-6d2a-4953-acc6-485f1d9f7c9a"
SLUG = "c-Users-alice-repo"
CWD = "/Users/alice/repo"
T0 = 1780000000000  # epoch ms


def raw_usage(prompt: int, completion: int, cached: int, *, reasoning: int = 0, write: int = 0) -> dict[str, Any]:
    """A rawUsage block with the field set of captured WorkBuddy transcripts (Tokdash fixtures)."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"audio_tokens": 0, "reasoning_tokens": 0, "cached_tokens": cached},
        "completion_tokens_details": {"audio_tokens": 0, "reasoning_tokens": reasoning, "cached_tokens": 0},
        "prompt_cache_hit_tokens": cached,
        "prompt_cache_miss_tokens": prompt - cached,
        "prompt_cache_write_tokens": write,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "completion_thinking_tokens": 0,
        "credit": 0.42,
        "cached_tokens": 0,
    }


def assistant(mid: str, ts: int, model: str = "glm-5.2", kind: str = "message", **extra: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "id": f"line-{mid}-{kind}",
        "timestamp": ts,
        "type": kind,
        "status": "completed",
        "sessionId": SESSION,
        "cwd": CWD,
        "providerData": {"model": model, "requestModelId": model, "requestModelName": "Auto", "messageId": mid},
    }
    if kind == "message":
        line["role"] = "assistant"
    for name in ("rawUsage", "usage"):
        if name in extra:
            line["providerData"][name] = extra.pop(name)
    line.update(extra)
    return line


LINES: list[Any] = [
    {"id": "user-1", "timestamp": T0, "type": "message", "role": "user", "sessionId": SESSION, "cwd": CWD},
    # the 2x trap: message.usage says input 24486 (cache inside) AND cache_read 14720 again
    assistant(
        "msg-1",
        T0 + 100,
        rawUsage=raw_usage(24486, 3, 14720),
        message={
            "usage": {
                "input_tokens": 24486,
                "output_tokens": 3,
                "total_tokens": 24489,
                "cache_read_input_tokens": 14720,
            }
        },
    ),
    # the same API call's tool call: same messageId, same usage -> counted once
    assistant("msg-1", T0 + 101, kind="function_call", rawUsage=raw_usage(24486, 3, 14720)),
    # tokscale's function_call row: 140732 prompt incl. 76032 cache hit, 635 completion
    assistant(
        "msg-2",
        T0 + 2000,
        kind="function_call",
        rawUsage={
            "prompt_tokens": 140732,
            "completion_tokens": 635,
            "total_tokens": 141367,
            "prompt_cache_hit_tokens": 76032,
        },
    ),
    # reasoning inside completion; a router alias as model
    assistant("msg-3", T0 + 3000, model="default-model", rawUsage=raw_usage(1000, 400, 0, reasoning=150)),
    # only the camel-case mirror
    assistant(
        "msg-4",
        T0 + 4000,
        usage={
            "requests": 1,
            "inputTokens": 500,
            "outputTokens": 20,
            "totalTokens": 520,
            "inputTokensDetails": [{"cached_tokens": 300}],
            "outputTokensDetails": [{"reasoning_tokens": 5}],
        },
    ),
    # only message.usage: never read
    assistant("msg-5", T0 + 5000, message={"usage": {"input_tokens": 9000, "output_tokens": 9}}),
    # still streaming
    assistant("msg-6", T0 + 6000, rawUsage=raw_usage(777, 7, 0), status="in_progress"),
    '{"type": "message", "providerData": {',  # torn / malformed
]


def transcript(home: Path, root: str = ".workbuddy-ai", lines: list[Any] = LINES) -> Path:
    path = home / root / "projects" / SLUG / f"{SESSION}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_rows(home: Path) -> None:
    transcript(home)
    reader = get_reader("workbuddy")
    (source,) = reader.discover([])
    result = reader.read(source, 0, {})
    assert result.skipped == 1 and result.errors == []
    frame = frame_of([reader])
    rows = {r["event_key"]: r for r in frame.iter_rows(named=True)}
    assert sorted(rows) == ["msg-1", "msg-2", "msg-3", "msg-4"]
    one = rows["msg-1"]
    assert (one["input"], one["output"], one["cache_read"], one["cache_write_5m"]) == (9766, 3, 14720, 0)
    assert one["model"] == "glm-5.2" and one["provider"] == "zai" and one["session_id"] == SESSION
    assert one["workspace"] == CWD and one["source_cost"] is None  # credit is not USD
    two = rows["msg-2"]
    assert (two["input"], two["output"], two["cache_read"]) == (64700, 635, 76032)
    three = rows["msg-3"]
    assert (three["input"], three["output"], three["reasoning"], three["model"]) == (1000, 400, 150, "default-model")
    four = rows["msg-4"]
    assert (four["input"], four["output"], four["reasoning"], four["cache_read"]) == (200, 20, 5, 300)


def test_message_usage_is_never_read_no_2x(home: Path) -> None:
    """The turn totals 24489 tokens; reading message.usage with its cache added would give 39209."""
    transcript(home, lines=[LINES[1]])
    frame = frame_of([get_reader("workbuddy")])
    total = sum(int(frame[c].sum()) for c in ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h"))
    assert total == 24489
    assert int(frame["cache_read"].sum()) == 14720 and int(frame["input"].sum()) == 24486 - 14720


def test_line_with_only_message_usage_gives_nothing(home: Path) -> None:
    transcript(home, lines=[LINES[6]])
    reader = get_reader("workbuddy")
    (source,) = reader.discover([])
    assert reader.read(source, 0, {}).rows == []


def test_both_roots_and_the_variable(home: Path, monkeypatch) -> None:
    transcript(home, ".workbuddy-ai", [LINES[1]])
    transcript(home, ".workbuddy", [LINES[3]])
    reader = get_reader("workbuddy")
    assert len(reader.discover([])) == 2
    assert frame_of([reader]).height == 2
    monkeypatch.setenv("WORKBUDDY_DATA_DIR", f"{home / '.workbuddy'}, {home / 'none'}")
    assert reader.roots() == [home / ".workbuddy" / "projects", home / "none" / "projects"]
    assert len(reader.discover([])) == 1


def test_incremental_append(home: Path) -> None:
    path = transcript(home, lines=LINES[:2])
    reader = get_reader("workbuddy")
    (source,) = reader.discover([])
    first = reader.read(source, 0, {})
    assert [r.event_key for r in first.rows] == ["msg-1"]
    with path.open("a") as fh:
        fh.write(json.dumps(LINES[3]) + "\n" + json.dumps(LINES[4])[:40])  # the last line still being written
    second = reader.read(source, first.offset, first.state)
    assert [r.event_key for r in second.rows] == ["msg-2"]
