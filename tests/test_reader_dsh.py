"""DeepSeek Harness reader: zstd-framed logs, torn frames, fork seeds, slot replacement (clients.md §3.13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zstandard
from tokscope.readers import get_reader

from tokscope.scan import frame_of

SID = "session-abc"
ENCODED = "E--repo-proj"


def dumps(value: dict) -> str:
    return json.dumps(value, separators=(",", ":"))


def header(sid: str = SID, **extra) -> dict:
    return {"type": "session", "version": 0, "id": sid, "createdAt": 1786669406484, "cwd": "E:\\repo\\proj", **extra}


def message(seq: int, time: int, usage: dict | None, turn: int | None = 1, step: int | None = 1, **source) -> dict:
    data: dict = {"message": {"role": "assistant", "content": [], "source": {"kind": "model", **source}}}
    if turn is not None:
        data["turn"] = turn
    if step is not None:
        data["step"] = step
    if usage is not None:
        data["usage"] = usage
    return {"type": "assistant/message", "seq": seq, "time": time, "data": data}


FLASH = {"provider": "irix", "model": "deepseek-v4-flash"}


def lines(*events: dict | str) -> list[bytes]:
    return [(e if isinstance(e, str) else dumps(e)).encode() + b"\n" for e in events]


def write_frames(home: Path, rows: list[bytes], sid: str = SID, per_frame: int = 1, tail: bytes = b"") -> Path:
    """One zstd frame per flush of ``per_frame`` lines, as a live writer appends them."""
    path = home / ".dsh/sessions" / ENCODED / sid / "session.jsonl.zstd"
    path.parent.mkdir(parents=True, exist_ok=True)
    compressor = zstandard.ZstdCompressor()
    frames = [compressor.compress(b"".join(rows[i : i + per_frame])) for i in range(0, len(rows), per_frame)]
    path.write_bytes(b"".join(frames) + tail)
    return path


def base_log() -> list[bytes]:
    return lines(
        header(),
        {"type": "turn/start", "seq": 4, "time": 1786669450000, "data": {"turn": 1}},
        {"type": "request/header", "seq": 5, "time": 1786669450000, "data": {"header": {"config": FLASH}}},
        message(301, 1786669454772, {"inputTokens": 130, "outputTokens": 159, "cacheReadTokens": 13824}, **FLASH),
        message(
            414,
            1786669459063,
            {"inputTokens": 90, "outputTokens": 60, "cacheReadTokens": 14000, "reasoningTokens": 25},
            step=2,
            **FLASH,
        ),
    )


def sample(home: Path) -> None:
    """The contract sample: a framed log with a torn last frame."""
    compressor = zstandard.ZstdCompressor()
    torn = compressor.compress(lines(message(500, 1786669470000, {"inputTokens": 1, "outputTokens": 1}))[0])
    write_frames(home, base_log(), tail=torn[: len(torn) // 2])


def read_all():
    return frame_of([get_reader("dsh")]).sort("ts")


def test_frames_decode_and_a_torn_last_frame_costs_only_itself(home: Path) -> None:
    sample(home)
    frame = read_all()
    assert frame.select("session_id", "model", "provider", "input", "output", "reasoning", "cache_read").rows() == [
        (SID, "deepseek-v4-flash", "irix", 130, 159, 0, 13824),
        (SID, "deepseek-v4-flash", "irix", 90, 60, 25, 14000),  # reasoning is inside output
    ]
    assert frame["ts"].dt.epoch("ms").to_list() == [1786669454772, 1786669459063]
    assert frame["workspace"].unique().to_list() == ["E:\\repo\\proj"]
    assert frame["event_key"].to_list() == [f"{SID}:1:1:0", f"{SID}:1:2:0"]


def test_a_plain_log_is_told_by_content_not_name(home: Path) -> None:
    path = home / ".dsh/sessions" / ENCODED / SID / "session.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join(base_log()) + b'{"type":"assistant/message","seq":9')  # a line being written
    assert read_all()["input"].to_list() == [130, 90]
    # and a .zstd name holding plain rows is read as plain
    path.rename(path.with_name("session.jsonl.zstd"))
    assert read_all()["input"].to_list() == [130, 90]


def test_the_fork_seed_is_not_counted_again(home: Path) -> None:
    write_frames(home, base_log())
    child = lines(
        header("session-fork", seedLength=400),
        message(301, 1786669454772, {"inputTokens": 130, "outputTokens": 159, "cacheReadTokens": 13824}, **FLASH),
        message(401, 1786669500000, {"inputTokens": 7, "outputTokens": 8}, turn=2, **FLASH),
    )
    write_frames(home, child, sid="session-fork", per_frame=2)
    frame = read_all()
    assert frame.select("session_id", "input").rows() == [(SID, 130), (SID, 90), ("session-fork", 7)]


def test_a_later_sample_of_a_slot_replaces_it_and_a_retry_adds_a_call(home: Path) -> None:
    write_frames(
        home,
        lines(
            header(),
            message(11, 1786669451000, {"inputTokens": 10, "outputTokens": 20}, **FLASH),
            message(12, 1786669454000, {"inputTokens": 30, "outputTokens": 40}, **FLASH),
            {"type": "llm/retry-started", "seq": 13, "time": 1786669454500, "data": {"turn": 1, "step": 1, "retry": 1}},
            message(14, 1786669456000, {"inputTokens": 50, "outputTokens": 60}, **FLASH),
        ),
        per_frame=3,
    )
    frame = read_all()
    assert frame.select("input", "output", "event_key").rows() == [
        (30, 40, f"{SID}:1:1:0"),
        (50, 60, f"{SID}:1:1:1"),
    ]


def test_stream_usage_attempts_and_compaction_summaries(home: Path) -> None:
    stream = [
        {
            "type": "chunk",
            "time": 1786669450002,
            "chunk": {"type": "usage", "usage": {"inputTokens": 10, "outputTokens": 3}},
        },
        {
            "type": "chunk",
            "time": 1786669450004,
            "chunk": {"type": "usage", "usage": {"inputTokens": 20, "outputTokens": 5}},
        },
        {"type": "chunk", "time": 1786669450100, "chunk": {"type": "finish", "reason": {"kind": "error"}}},
    ]
    write_frames(
        home,
        lines(
            header(),
            {
                "type": "assistant/attempt",
                "seq": 2,
                "time": 1786669450002,
                "data": {"turn": 1, "step": 1, "attemptId": "a-1", "stream": stream},
            },
            {
                "type": "assistant/message",
                "seq": 3,
                "time": 1786669451000,
                "data": {"turn": 1, "step": 1, "stream": stream},
            },
            {
                "type": "compaction/summary",
                "seq": 9,
                "time": 1786669460000,
                "data": {
                    "compactionId": "cmp-1",
                    "usage": {"inputTokens": 5000, "outputTokens": 700},
                    "message": {"source": FLASH},
                },
            },
        ),
    )
    frame = read_all()
    assert frame.select("event_key", "input", "output").rows() == [
        (f"{SID}:1:1:0:attempt:a-1", 20, 5),  # the last usage chunk, not the sum
        (f"{SID}:1:1:0", 20, 5),
        (f"{SID}:summary:cmp-1", 5000, 700),
    ]


def test_the_served_model_wins_and_the_request_header_is_the_fallback(home: Path) -> None:
    served = {"provider": "zai", "model": "glm-5.2", "replayState": {"response": {"responseModel": "glm-5.3"}}}
    write_frames(
        home,
        lines(
            header(),
            {
                "type": "request/header",
                "seq": 1,
                "time": 1,
                "data": {"header": {"config": {"provider": "deepseek", "model": "deepseek-chat"}}},
            },
            message(2, 1786669451000, {"inputTokens": 1, "outputTokens": 1}, **served),
            {
                "type": "assistant/message",
                "seq": 3,
                "time": 1786669452000,
                "data": {"turn": 1, "step": 2, "usage": {"inputTokens": 2, "outputTokens": 2}},
            },
        ),
    )
    assert read_all().select("model", "provider").rows() == [("glm-5.3", "zai"), ("deepseek-chat", "deepseek")]


def test_malformed_rows_and_a_corrupt_frame(home: Path) -> None:
    rows = base_log()
    rows.insert(3, b'{"type":"assistant/message","seq":\n')
    write_frames(home, rows, per_frame=10)
    reader = get_reader("dsh")
    result = reader.read(reader.discover([])[0], 0, {})
    assert result.skipped == 1 and [r.input for r in result.rows] == [130, 90]
    path = reader.discover([])[0].path
    path.write_bytes(path.read_bytes() + b"\x28\xb5\x2f\xfd" + b"\xff" * 40)  # a frame that is no frame
    result = reader.read(reader.discover([])[0], 0, {})
    assert [r.input for r in result.rows] == [130, 90] and result.reasons.get("corrupt zstd frame") == 1


def test_dsh_home_moves_the_root(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSH_HOME", str(home / "d"))
    assert get_reader("dsh").roots() == [home / "d/sessions"]
