"""The ledger and incremental scans: append, partial line, truncate, replace, delete, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pytest
from tokscope.readers import get_reader

from tokscope.ledger import Ledger
from tokscope.scan import scan

READERS = [get_reader("claude-code"), get_reader("codex")]


def line(msg_id: str, out: int, inp: int = 10, ts: str = "2026-11-20T10:00:00Z", session: str = "s1") -> str:
    usage = {"input_tokens": inp, "output_tokens": out}
    message = {"id": msg_id, "model": "claude-sonnet-4-5", "usage": usage, "content": [{"type": "text", "text": "x"}]}
    return json.dumps(
        {"type": "assistant", "timestamp": ts, "sessionId": session, "requestId": "r-" + msg_id, "message": message}
    )


def project(home: Path) -> Path:
    folder = home / ".claude" / "projects" / "-home-alice-app"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def totals() -> tuple[int, int]:
    frame = Ledger().frame()
    return frame.height, int(frame["output"].sum() or 0)


def run() -> object:
    return scan(readers=READERS, workers=1)


def test_append_reads_only_the_new_lines(home: Path) -> None:
    path = project(home) / "s1.jsonl"
    path.write_text(line("m1", 100) + "\n")
    first = run()
    assert (first.read, first.new_events, first.events) == (1, 1, 1)
    unchanged = run()
    assert (unchanged.read, unchanged.new_events, unchanged.events) == (0, 0, 1)
    with path.open("a") as fh:
        fh.write(line("m2", 50) + "\n")
    appended = run()
    assert appended.bytes_read == len(line("m2", 50)) + 1  # only the new line was read
    assert (appended.new_events, appended.events) == (1, 2)
    assert totals() == (2, 150)


def test_a_partial_last_line_waits_for_the_next_scan(home: Path) -> None:
    path = project(home) / "s1.jsonl"
    whole = line("m2", 70)
    path.write_text(line("m1", 30) + "\n" + whole[:40])  # the writer is mid-line
    summary = run()
    assert summary.skipped == 0
    assert totals() == (1, 30)
    with path.open("a") as fh:
        fh.write(whole[40:] + "\n")
    run()
    assert totals() == (2, 100)


def test_streaming_copy_completed_in_a_later_scan_replaces_the_partial(home: Path) -> None:
    path = project(home) / "s1.jsonl"
    path.write_text(line("m1", 1) + "\n")
    run()
    with path.open("a") as fh:
        fh.write(line("m1", 480) + "\n")
    summary = run()
    assert summary.new_events == 0
    assert totals() == (1, 480)


def test_truncated_file_is_read_again_without_double_counting(home: Path) -> None:
    path = project(home) / "s1.jsonl"
    path.write_text(line("m1", 10) + "\n" + line("m2", 20) + "\n")
    run()
    path.write_text(line("m1", 10) + "\n")  # shrank: re-read from the start
    summary = run()
    assert summary.read == 1
    assert totals() == (2, 30)  # m2's event stays: the ledger is the archive


def test_replaced_file_with_the_same_size_is_read_again(home: Path) -> None:
    path = project(home) / "s1.jsonl"
    path.write_text(line("m1", 10) + "\n")
    run()
    replacement = path.with_suffix(".tmp")
    replacement.write_text(line("m9", 90) + "\n")  # same length, other content, new inode
    assert replacement.stat().st_size == path.stat().st_size
    replacement.replace(path)
    run()
    assert totals() == (2, 100)


def test_rewritten_in_place_and_regrown_is_detected(home: Path) -> None:
    path = project(home) / "s1.jsonl"
    path.write_text(line("m1", 10) + "\n")
    run()
    # same inode, rewritten with a longer first line: the saved offset now falls mid-line
    with path.open("r+") as fh:
        fh.write(line("m5", 12345) + "\n" + line("m6", 1) + "\n")
    run()
    assert totals() == (3, 10 + 12345 + 1)


def test_deleted_source_keeps_its_events(home: Path) -> None:
    path = project(home) / "s1.jsonl"
    path.write_text(line("m1", 10) + "\n")
    run()
    path.unlink()
    summary = run()
    assert summary.files == 0
    assert totals() == (1, 10)
    assert str(path) not in Ledger().load_state()["sources"]


def test_many_scans_compact_into_one_base(home: Path) -> None:
    path = project(home) / "s1.jsonl"
    for i in range(40):
        with path.open("a") as fh:
            fh.write(line(f"m{i}", i + 1) + "\n")
        run()
    ledger = Ledger()
    segments = list(ledger.events_dir.glob("*.parquet"))
    assert len(segments) <= 17
    assert totals() == (40, sum(range(1, 41)))
    assert ledger.count() == 40


def test_the_ledger_follows_xdg_data_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "elsewhere"))
    (project(home) / "s1.jsonl").write_text(line("m1", 10) + "\n")
    run()
    assert (home / "elsewhere" / "tokscope" / "ledger" / "scan-state.msgpack").exists()


def test_sources_are_never_modified(home: Path) -> None:
    path = project(home) / "s1.jsonl"
    path.write_text(line("m1", 10) + "\n")
    before = (path.stat().st_mtime_ns, path.read_bytes(), sorted(os.listdir(path.parent)))
    run()
    run()
    assert (path.stat().st_mtime_ns, path.read_bytes(), sorted(os.listdir(path.parent))) == before


# --- bad input ------------------------------------------------------------------------------


def test_garbage_empty_and_huge_lines_lose_nothing_else(home: Path) -> None:
    folder = project(home)
    (folder / "empty.jsonl").write_bytes(b"")
    (folder / "garbage.jsonl").write_bytes(os.urandom(4096) + b'\n"usage"\xff\xfe\n')
    huge = '{"type":"assistant","message":{"usage":{"input_tokens":1},"content":"' + "x" * (50 << 20) + '"}}'
    (folder / "huge.jsonl").write_text(line("m1", 10) + "\n" + huge[:-3] + "\n" + line("m2", 20) + "\n")
    summary = run()
    assert summary.files == 3
    assert summary.skipped >= 2  # the truncated 50 MB line and the garbage
    assert totals() == (2, 30)


def test_unreadable_directory_is_reported_and_the_rest_counts(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = project(home) / "s1.jsonl"
    good.write_text(line("m1", 10) + "\n")
    locked = home / ".claude" / "projects" / "-locked"
    locked.mkdir()
    (locked / "s.jsonl").write_text(line("m2", 20) + "\n")
    real_scandir = os.scandir

    def scandir(path: object):  # chmod 0 does not stop root: refuse here instead
        if Path(str(path)) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    summary = run()
    assert any("cannot list" in e and "-locked" in e and "Permission denied" in e for e in summary.errors)
    assert totals() == (1, 10)


def test_unreadable_file_is_reported_and_read_later(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = project(home) / "s1.jsonl"
    good.write_text(line("m1", 10) + "\n")
    bad = project(home) / "s2.jsonl"
    bad.write_text(line("m2", 20, session="s2") + "\n")
    import tokscope.readers.base as base

    real_open = base.open_regular

    def failing_open(path: Path):
        if path == bad:
            raise PermissionError(13, "Permission denied")
        return real_open(path)

    monkeypatch.setattr(base, "open_regular", failing_open)
    summary = run()
    assert any("s2.jsonl" in e and "Permission denied" in e for e in summary.errors)
    assert totals() == (1, 10)
    monkeypatch.setattr(base, "open_regular", real_open)
    run()  # readable again: nothing was marked as done
    assert totals() == (2, 30)


def test_parallel_cold_scan_equals_the_serial_one(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tokscope.scan as scan_module

    folder = project(home)
    for f in range(6):
        (folder / f"s{f}.jsonl").write_text("".join(line(f"m{f}-{i}", i) + "\n" for i in range(50)))
    monkeypatch.setattr(scan_module, "PARALLEL_MIN_BYTES", 0)
    summary = scan(readers=READERS, workers=2)
    assert summary.events == 300
    frame = Ledger().frame()
    assert int(frame["output"].sum()) == 6 * sum(range(50))
    assert frame.select(pl.col("event_key").n_unique()).item() == 300


def rows(keys: list[str], output: int, rank: int) -> pl.DataFrame:
    """Ledger rows for ``keys`` with one output count and rank."""
    from datetime import UTC, datetime

    from tokscope.events import LEDGER_SCHEMA

    n = len(keys)
    data = {name: [None] * n for name in LEDGER_SCHEMA}
    data |= {"client": ["claude-code"] * n, "event_key": keys, "session_id": ["s"] * n, "rank": [rank] * n}
    data |= {"ts": [datetime(2026, 11, 20, tzinfo=UTC)] * n, "output": [output] * n}
    for name in ("input", "reasoning", "cache_read", "cache_write_5m", "cache_write_1h"):
        data[name] = [0] * n
    return pl.DataFrame(data, schema=LEDGER_SCHEMA)


def test_base_and_deltas_keep_one_winner_per_key(home: Path) -> None:
    ledger = Ledger()
    with ledger.lock():
        state = ledger.load_state()
        ledger.append(rows(["a", "b", "c"], 1, rank=1), state)
        ledger.maybe_compact(state, force=True)
        ledger.append(rows(["d"], 4, rank=1), state)  # new keys only: the base is kept whole
        ledger.save_state(state)
    assert dict(ledger.frame().select("event_key", "output").iter_rows()) == {"a": 1, "b": 1, "c": 1, "d": 4}
    with ledger.lock():
        state = ledger.load_state()
        ledger.append(rows(["b"], 20, rank=2), state)  # a better copy wins over the base row
        ledger.append(rows(["c"], 30, rank=0), state)  # a worse copy loses to it
        ledger.append(rows(["a"], 10, rank=1), state)  # an equal rank: the copy written last wins
        ledger.save_state(state)
    frame = ledger.frame()
    assert frame.height == 4
    assert dict(frame.select("event_key", "output").iter_rows()) == {"a": 10, "b": 20, "c": 1, "d": 4}
