"""Scan state: an unchanged rescan reads and writes nothing; a damaged state is reset, never a crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tokscope.readers import get_reader

from tests.test_ledger_incremental import line, project, totals
from tokscope import paths, scan_state
from tokscope.scan import batches, scan

READERS = [get_reader("claude-code")]


def run():
    return scan(readers=READERS, workers=1)


def test_a_file_whose_last_line_has_no_newline_is_not_read_again(home: Path) -> None:
    path = project(home) / "s1.jsonl"
    path.write_text(line("m1", 30) + "\n" + line("m2", 70)[:40])  # the writer is mid-line
    assert run().read == 1
    again = run()
    assert (again.read, again.bytes_read, again.changed) == (0, 0, False)
    assert totals() == (1, 30)


def test_an_unchanged_rescan_writes_nothing(home: Path) -> None:
    path = project(home) / "s1.jsonl"
    path.write_text(line("m1", 30) + "\n")
    run()
    ledger_dir = paths.ledger_dir()
    before = {p: p.stat().st_mtime_ns for p in ledger_dir.rglob("*")}
    assert not run().changed
    assert {p: p.stat().st_mtime_ns for p in ledger_dir.rglob("*")} == before


@pytest.mark.parametrize(
    "content",
    [b'{"version": 1, "next_seq": 2, "events": 1, "sources": []}', b"\x93\x01\x02", b"", b'{"version": 1'],
)
def test_a_damaged_state_is_reset_with_a_reason_and_nothing_is_counted_twice(home: Path, content: bytes) -> None:
    path = project(home) / "s1.jsonl"
    path.write_text(line("m1", 30) + "\n" + line("m2", 70) + "\n")
    run()
    ledger_dir = paths.ledger_dir()
    (ledger_dir / scan_state.FILE_NAME).unlink()
    (ledger_dir / scan_state.LEGACY_NAME).write_bytes(content)
    summary = run()
    assert summary.read == 1
    assert any("reset" in e for e in summary.errors) or content == b""
    assert totals() == (2, 100)
    assert (summary.events, summary.new_events) == (2, 0)


def test_a_damaged_new_format_state_is_reset(home: Path) -> None:
    path = project(home) / "s1.jsonl"
    path.write_text(line("m1", 30) + "\n")
    run()
    (paths.ledger_dir() / scan_state.FILE_NAME).write_bytes(b"\x81\xa7version\x02garbage")
    summary = run()
    assert any("damaged" in e and "reset" in e for e in summary.errors)
    assert totals() == (1, 30)
    assert run().errors == []  # reported once; the rewritten state is good


def test_sources_list_state_does_not_crash_the_cli(home: Path) -> None:
    path = project(home) / "s1.jsonl"
    path.write_text(line("m1", 30) + "\n")
    ledger_dir = paths.ledger_dir()
    ledger_dir.mkdir(parents=True)
    (ledger_dir / scan_state.LEGACY_NAME).write_text(json.dumps({"version": 1, "next_seq": 1, "sources": []}))
    out = subprocess.run(
        [sys.executable, "-m", "tokscope", "report", "--period", "all", "--format", "json"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["totals"]["turns"] == 1
    assert "reset" in out.stderr


def test_a_version_1_state_is_converted_without_reading_again(home: Path) -> None:
    path = project(home) / "s1.jsonl"
    path.write_text(line("m1", 30) + "\n")
    run()
    ledger_dir = paths.ledger_dir()
    state = scan_state.load(ledger_dir, lambda: 1)
    entry = state["sources"][str(path)]
    names = scan_state.SourceState.__struct_fields__
    old = {"version": 1, "next_seq": state["next_seq"], "events": state["events"]}
    values = [getattr(entry, n) for n in names[:-1]] + [scan_state.unpack(entry.state)]
    old["sources"] = {str(path): dict(zip(names, values, strict=True))}
    (ledger_dir / scan_state.FILE_NAME).unlink()
    (ledger_dir / scan_state.LEGACY_NAME).write_text(json.dumps(old))
    summary = run()
    assert (summary.read, summary.errors) == (0, [])
    assert (ledger_dir / scan_state.FILE_NAME).exists()
    assert not (ledger_dir / scan_state.LEGACY_NAME).exists()


def test_batches_cover_every_job_once_with_similar_bytes() -> None:
    class Job:
        def __init__(self, size: int) -> None:
            self.size = size

    sizes = [5000, 10, 10, 2000, 2000, 1000, 1000, 990, 7, 3]
    groups = batches([Job(s) for s in sizes], 4)  # type: ignore[misc]
    assert sorted(i for g in groups for i in g) == list(range(len(sizes)))
    assert groups[0] == [0]  # the biggest alone first
    assert len(groups) <= 5


def test_a_broken_worker_pool_reads_the_rest_in_process(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import concurrent.futures
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    import tokscope.scan as scan_module

    class DeadPool:  # every worker "killed": each submitted batch fails
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def __enter__(self) -> DeadPool:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def submit(self, *args: object) -> Future:
            future: Future = Future()
            future.set_exception(BrokenProcessPool("a worker died"))
            return future

    folder = project(home)
    for f in range(6):
        (folder / f"s{f}.jsonl").write_text("".join(line(f"m{f}-{i}", i) + "\n" for i in range(20)))
    monkeypatch.setattr(scan_module, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", DeadPool)
    summary = scan(readers=READERS, workers=3)
    assert (summary.read, summary.events) == (6, 120)
    assert totals() == (120, 6 * sum(range(20)))


def _entry(size: int) -> scan_state.SourceState:
    return scan_state.SourceState("claude-code", 1, 2, size, 3, [], size, scan_state.pack({}))


def _state(root: Path, **sources: int) -> dict:
    state = scan_state.fresh()
    state["sources"] = {k: _entry(v) for k, v in sources.items()}
    scan_state.save(root, state)
    return state


def test_the_log_extends_its_own_table_only(tmp_path: Path) -> None:
    state = _state(tmp_path, a=1, b=2)
    state["sources"]["a"] = _entry(10)
    state["sources"]["c"] = _entry(30)
    scan_state.save_changes(tmp_path, state, ["a", "c"])
    del state["sources"]["b"]
    scan_state.save_changes(tmp_path, state, [], ["b"])
    loaded = scan_state.load(tmp_path, lambda: 1)
    assert {k: v.size for k, v in loaded["sources"].items()} == {"a": 10, "c": 30}
    log = (tmp_path / scan_state.LOG_NAME).read_bytes()
    _state(tmp_path, a=1)  # a new table; a crash left the old log beside it
    (tmp_path / scan_state.LOG_NAME).write_bytes(log)
    assert {k: v.size for k, v in scan_state.load(tmp_path, lambda: 1)["sources"].items()} == {"a": 1}


@pytest.mark.parametrize("tail", [b"\x05", b"\xff\xff\xff\x7f\x00\x00\x00\x00", b"\x04\x00\x00\x00abcdjunk"])
def test_a_torn_log_tail_is_no_record_and_is_written_over(tmp_path: Path, tail: bytes) -> None:
    state = _state(tmp_path, a=1)
    state["sources"]["a"] = _entry(5)
    scan_state.save_changes(tmp_path, state, ["a"])
    with (tmp_path / scan_state.LOG_NAME).open("ab") as f:
        f.write(tail)  # a crash mid-append
    assert scan_state.load(tmp_path, lambda: 1)["sources"]["a"].size == 5
    state = scan_state.load(tmp_path, lambda: 1)
    state["sources"]["a"] = _entry(7)
    scan_state.save_changes(tmp_path, state, ["a"])
    assert scan_state.load(tmp_path, lambda: 1)["sources"]["a"].size == 7  # not lost behind the torn bytes


def test_a_full_log_is_folded_into_a_new_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan_state, "LOG_MAX", 200)
    state = _state(tmp_path, a=1)
    log = tmp_path / scan_state.LOG_NAME
    sizes = []
    for size in range(2, 12):
        state["sources"]["a"] = _entry(size)
        scan_state.save_changes(tmp_path, state, ["a"])
        sizes.append(log.stat().st_size if log.exists() else 0)
    assert max(sizes) < 300 and 0 in sizes  # folded into a table (and the log dropped) once past 200 bytes
    assert scan_state.load(tmp_path, lambda: 1)["sources"]["a"].size == 11
