"""Antigravity reader: gen_metadata protobuf blobs (CLI, ACP and IDE-extension roots), the field map, model recovery."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from tokscope.readers import antigravity as ag
from tokscope.readers import get_reader

from tokscope.scan import frame_of

CONV = "9f3c2b1e-5d4a-4e8f-a7b6-0c1d2e3f4a5b"
T_SEC = 1_800_000_000  # 2027-01-15T08:00:00Z


# --- a tiny protobuf writer (the tests' own; the reader has only the walker) --------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def vfield(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def lfield(number: int, raw: bytes | str) -> bytes:
    raw = raw.encode() if isinstance(raw, str) else raw
    return varint(number << 3 | 2) + varint(len(raw)) + raw


def generation(
    *,
    model: str | None = "gemini-3-flash-a",
    label: str | None = "Gemini 3.5 Flash (High)",
    seconds: int | None = T_SEC,
    nanos: int = 0,
    enum: int = 1132,
    inp: int = 0,
    out: int | None = None,
    write: int = 0,
    read: int = 0,
    thinking: int = 0,
    visible: int = 0,
    response: str | None = None,
) -> bytes:
    """A GeneratorMetadata blob, fields in ascending order as a protobuf serializer writes them."""
    usage = vfield(1, enum) + vfield(2, inp)
    usage += vfield(3, thinking + visible if out is None else out)
    usage += vfield(4, write) + vfield(5, read) + vfield(6, 3)
    if thinking:
        usage += vfield(9, thinking)
    if visible:
        usage += vfield(10, visible)
    if response:
        usage += lfield(11, response)
    chat = lfield(4, usage)
    if seconds is not None:
        chat += lfield(9, lfield(4, vfield(1, seconds) + vfield(2, nanos)))
    if model is not None:
        chat += lfield(19, model)
    if label is not None:
        chat += lfield(21, label)
    return lfield(1, chat)


def trajectory(created: int, workspace: str) -> bytes:
    return lfield(1, lfield(1, workspace)) + lfield(2, vfield(1, created) + vfield(2, 500_000_000))


# One real-shaped row written out byte for byte: what the field map says each byte means.
REAL_LAYOUT = bytes.fromhex(
    "0a"  # field 1 (chat model), length-delimited
    "3f"  # 63 bytes
    "22"  # 1.4 ModelUsageStats, length-delimited
    "1c"  # 28 bytes
    "08ec08"  # 1.4.1 = 1132 (model enum: not tokens)
    "10b801"  # 1.4.2 = 184 input (uncached)
    "18d702"  # 1.4.3 = 343 output incl. thinking
    "2000"  # 1.4.4 = 0 cache write
    "28e05d"  # 1.4.5 = 12000 cache read
    "3003"  # 1.4.6 = 3 API provider enum
    "48f501"  # 1.4.9 = 245 thinking
    "5062"  # 1.4.10 = 98 visible response (245 + 98 = 343)
    "5a05"  # 1.4.11 response id, 5 bytes
    "7265732d31"  # "res-1"
    "4a0c"  # 1.9, 12 bytes
    "220a"  # 1.9.4 timestamp, 10 bytes
    "0880a4a7da06"  # seconds = 1800000000
    "10c0843d"  # nanos = 1000000 (1 ms)
    "9a0110"  # 1.19 model id, 16 bytes
    "67656d696e692d332d666c6173682d61"  # "gemini-3-flash-a"
)


def test_real_layout_is_read_as_the_field_map_says() -> None:
    """Our reading of a gen_metadata blob, stated: #2 input, #3 output (= #9 thinking + #10 visible),
    #4 cache write, #5 cache read, #11 response id, #1 a model enum that is not counted anywhere."""
    outer = ag.parse(REAL_LAYOUT)
    chat = ag.sub(outer, 1)
    usage = ag.sub(chat, 4)
    assert {n: ag.uint(usage, n) for n in (1, 2, 3, 4, 5, 6, 9, 10)} == {
        1: 1132, 2: 184, 3: 343, 4: 0, 5: 12000, 6: 3, 9: 245, 10: 98,
    }  # fmt: skip
    assert ag.uint(usage, 9) + ag.uint(usage, 10) == ag.uint(usage, 3)
    assert ag.string(usage, 11) == "res-1" and ag.string(chat, 19) == "gemini-3-flash-a"
    assert ag.timestamp_us(ag.sub(ag.sub(chat, 9), 4)) == T_SEC * 1_000_000 + 1000
    g = ag._decode(0, REAL_LAYOUT)
    assert (g.input, g.output, g.reasoning, g.cache_read, g.cache_write) == (184, 343, 245, 12000, 0)
    rebuilt = generation(inp=184, read=12000, thinking=245, visible=98, response="res-1", nanos=1_000_000, label=None)
    assert rebuilt == REAL_LAYOUT


def conversations(home: Path, surface: str = "antigravity-cli") -> Path:
    return home / ".gemini" / surface / "conversations"


ROWS = [
    (0, REAL_LAYOUT),
    # Claude, no thinking: #10 only
    (
        1,
        generation(
            model="claude-opus-4-6-thinking",
            label="Claude Opus 4.6",
            seconds=T_SEC + 60,
            inp=300,
            write=20,
            read=15,
            visible=150,
            response="res-2",
        ),
    ),
    # continuation turn without #19: its label names the model on row 0 ... once a row pairs them
    (2, generation(model=None, seconds=T_SEC + 120, inp=7, read=12400, visible=3)),
    (3, generation(seconds=T_SEC + 90, inp=1, visible=1, response="res-4")),  # pairs the label with gemini-3-flash-a
    # the router label and no timestamp (agy 1.1.18): model from the label, time from the trajectory
    (4, generation(model="gemini-default", seconds=None, inp=5, visible=2)),
    # #3 absent: thinking + visible
    (5, generation(seconds=T_SEC + 200, inp=9, thinking=4, visible=6, out=0, response="res-6")),
    # nothing counted
    (6, generation(seconds=T_SEC + 300)),
    (7, b"\x0a\xff\xff"),  # truncated: a counted skip
]


def make_db(path: Path, rows=ROWS, wal: bool = True, meta: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE gen_metadata(idx INTEGER, data BLOB, size)")
    conn.execute("CREATE TABLE trajectory_metadata_blob(id INTEGER PRIMARY KEY, data BLOB)")
    conn.executemany("INSERT INTO gen_metadata VALUES (?, ?, ?)", [(i, d, len(d)) for i, d in rows])
    if meta:
        conn.execute("INSERT INTO trajectory_metadata_blob (data) VALUES (?)",
                     (trajectory(T_SEC - 600, "file:///home/alice/src/my%20app"),))  # fmt: skip
    conn.commit()
    conn.close()
    return path


def sample(home: Path) -> None:
    make_db(conversations(home) / f"{CONV}.db")


def read(home: Path):
    reader = get_reader("antigravity")
    (source,) = reader.discover([])
    return reader.read(source, 0, {})


def test_rows(home: Path) -> None:
    make_db(conversations(home) / f"{CONV}.db")
    result = read(home)
    assert result.errors == [] and result.reasons == {"malformed generation blob": 1}
    rows = {r.event_key: r for r in result.rows}
    assert sorted(rows) == sorted(["res-1", "res-2", "res-4", "res-6", f"{CONV}:2", f"{CONV}:4"])
    one = rows["res-1"]
    assert (one.input, one.output, one.reasoning, one.cache_read, one.cache_write_5m) == (184, 343, 245, 12000, 0)
    assert one.model == "gemini-3-flash-a" and one.provider == "google" and one.session_id == CONV
    assert one.workspace == "/home/alice/src/my app" and one.ts == T_SEC * 1_000_000 + 1000
    two = rows["res-2"]
    assert (two.input, two.output, two.reasoning, two.cache_read, two.cache_write_5m) == (300, 150, 0, 15, 20)
    assert two.provider == "anthropic"
    six = rows["res-6"]
    assert (six.output, six.reasoning) == (10, 4)


def test_missing_model_is_recovered_from_a_sibling_with_the_same_label(home: Path) -> None:
    make_db(conversations(home) / f"{CONV}.db")
    rows = {r.event_key: r for r in read(home).rows}
    assert rows[f"{CONV}:2"].model == "gemini-3-flash-a"
    assert rows[f"{CONV}:4"].model == "gemini-3-flash-a"  # the router label is no model


def test_a_label_seen_with_two_models_recovers_nothing(home: Path) -> None:
    rows = [
        (0, generation(model="gemini-3-flash-a", label="Gemini 3.5 Flash (High)", inp=1, visible=1, response="a")),
        (1, generation(model="gemini-3-pro-a", label="Gemini 3.5 Flash (High)", inp=1, visible=1, response="b")),
        (2, generation(model=None, label="Gemini 3.5 Flash (High)", inp=1, visible=1, response="c")),
    ]
    make_db(conversations(home) / f"{CONV}.db", rows=rows)
    assert {r.event_key: r.model for r in read(home).rows}["c"] == "unknown"


def test_no_generation_time_uses_the_trajectory_then_the_mtime(home: Path) -> None:
    make_db(conversations(home) / f"{CONV}.db")
    assert {r.event_key: r.ts for r in read(home).rows}[f"{CONV}:4"] == (T_SEC - 600) * 1_000_000 + 500_000
    path = make_db(conversations(home) / "other.db", rows=[ROWS[4]], meta=False)
    os.utime(path, (T_SEC, T_SEC))
    reader = get_reader("antigravity")
    source = next(s for s in reader.discover([]) if s.path.name == "other.db")
    (row,) = reader.read(source, 0, {}).rows
    assert row.ts == T_SEC * 1_000_000 and row.workspace == ""


def test_all_three_surfaces_and_fork_copies(home: Path) -> None:
    make_db(conversations(home) / f"{CONV}.db")
    make_db(conversations(home, "antigravity") / "ext.db", rows=[ROWS[1]])
    make_db(conversations(home, "antigravity-acp") / "acp.db", rows=[ROWS[0]])  # a copy of res-1
    (conversations(home) / f"{CONV}.pb").write_bytes(b"\x00encrypted")  # legacy: not read
    reader = get_reader("antigravity")
    assert sorted(s.path.name for s in reader.discover([])) == [f"{CONV}.db", "acp.db", "ext.db"]
    frame = frame_of([reader])
    assert frame.height == 6  # res-1 and res-2 each once
    assert int(frame["input"].sum()) == 184 + 300 + 7 + 1 + 5 + 9


def test_gemini_cli_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = home / "alt"
    make_db(other / ".gemini/antigravity-cli/conversations/a.db", rows=[ROWS[0]])
    monkeypatch.setenv("GEMINI_CLI_HOME", str(other))
    assert [s.path.name for s in get_reader("antigravity").discover([])] == ["a.db"]


@pytest.mark.parametrize(
    "blob",
    [b"\x0a\x05\x22", b"\x08" + b"\xff" * 11, b"\x0b\x00", b"\x00\x01", b"\x0a\x02\x22\x05", "text"],
)
def test_malformed_blobs_cost_their_row(home: Path, blob) -> None:
    make_db(conversations(home) / f"{CONV}.db", rows=[(0, blob), ROWS[0]])
    result = read(home)
    assert [r.event_key for r in result.rows] == ["res-1"] and result.skipped == 1
