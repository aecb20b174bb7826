"""The ledger's own files: foreign copies ignored, damaged segments detected and never read or counted
twice, repaired from the sources, killed writes cleaned up, a full disk one clear message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.cli_helpers import cli
from tokscope.events import CLIENT_ENUM, CLIENTS
from tokscope.ledger import Ledger, current, digest, parse_name


def claude_line(msg: str, out: int, ts: str = "2026-11-18T10:00:00Z") -> str:
    message = {"id": msg, "model": "claude-sonnet-4-5", "usage": {"input_tokens": 10, "output_tokens": out}}
    return json.dumps(
        {"type": "assistant", "timestamp": ts, "sessionId": "s1", "requestId": "r" + msg, "message": message}
    )


def transcript(home: Path, name: str, *lines: str) -> Path:
    path = home / ".claude" / "projects" / "-home-alice-app" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write("".join(line + "\n" for line in lines))
    return path


def report() -> tuple[int, int]:
    """(turns, output tokens) of ``report --period all``, without scanning."""
    code, out, err = cli("report", "--period", "all", "--format", "json", "--no-scan", "--by", "client")
    assert code == 0, err
    totals = json.loads(out)["totals"]
    return totals["turns"], totals["output"] or 0


@pytest.fixture
def two_segments(home: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    """A ledger with a base (2 turns, output 300) and a delta (1 turn, output 7)."""
    monkeypatch.setattr("tokscope.ledger.MAX_DELTA_SHARE", 10.0)  # a small base: keep the delta beside it
    transcript(home, "s1.jsonl", claude_line("m1", 100), claude_line("m2", 200))
    assert cli("scan")[0] == 0
    transcript(home, "s2.jsonl", claude_line("m3", 7))
    assert cli("scan")[0] == 0
    ledger = Ledger()
    assert [p.name.split("-")[0] for p in ledger.segments()] == ["base", "delta"]
    assert report() == (3, 307)
    return ledger


def test_segments_are_named_with_the_digest_of_their_bytes(two_segments: Ledger) -> None:
    for path in two_segments.segments():
        parsed = parse_name(path.name)
        assert parsed is not None and parsed[2] == digest(path)


def test_a_sync_conflict_copy_is_ignored_and_reported(two_segments: Ledger) -> None:
    base = two_segments.segments()[0]
    shutil.copy(base, base.with_name("base-00000001 (copy).parquet"))
    shutil.copy(base, base.with_name(base.name + ".sync-conflict-20261118-120000-ABCDEFG"))
    for args in (("scan",), ("sources", "--format", "json"), ("statusline",)):
        code, _out, err = cli(*args)
        assert code == 0, f"{args}: {err}"
    assert report() == (3, 307)  # not counted twice
    kinds = {f.path.name: f.kind for f in two_segments.layout().findings}
    assert kinds == {
        "base-00000001 (copy).parquet": "unknown",
        base.name + ".sync-conflict-20261118-120000-ABCDEFG": "unknown",
    }
    _code, _out, err = cli("scan")
    assert "base-00000001 (copy).parquet" in err
    code, out, _err = cli("doctor", "--format", "json", "--no-scan")
    assert code == 0 and json.loads(out)["sections"]["ledger"]["status"] == "warning"  # worth a look, not broken
    assert cli("doctor", "--repair")[0] == 0  # moved aside, nothing re-read
    assert {f.kind for f in two_segments.layout().findings} == {"quarantined"}
    assert report() == (3, 307)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_segment_is_never_read_and_the_repair_restores_it(two_segments: Ledger, damage: str) -> None:
    base = two_segments.segments()[0]
    data = bytearray(base.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 3] ^= 0x01
    base.write_bytes(bytes(data))
    assert report() == (1, 7)  # only the intact delta: the damaged base is left out, never half read
    _code, _out, err = cli("report", "--no-scan", "--period", "all")
    assert "doctor --repair" in err
    code, _out, err = cli("scan")
    assert code == 0 and "doctor --repair" in err and base.name in err
    code, out, _err = cli("doctor", "--format", "json", "--no-scan")
    assert code == 1
    ledger = json.loads(out)["sections"]["ledger"]
    assert ledger["status"] == "error"
    assert [f["kind"] for f in ledger["findings"]] == ["damaged"]

    code, _out, err = cli("doctor", "--repair")
    assert code == 0, err
    assert report() == (3, 307)  # rebuilt from the transcripts, once
    assert [f.kind for f in two_segments.layout().findings] == ["quarantined"]
    code, out, _err = cli("doctor", "--format", "json", "--no-scan")
    assert code == 0 and json.loads(out)["sections"]["ledger"]["status"] == "ok"


def test_a_repair_keeps_the_events_of_deleted_sources(two_segments: Ledger, home: Path) -> None:
    (home / ".claude" / "projects" / "-home-alice-app" / "s1.jsonl").unlink()  # its 2 turns live in the base only
    delta = two_segments.segments()[1]
    delta.write_bytes(delta.read_bytes()[:-10])
    assert cli("doctor", "--repair")[0] == 0
    assert report() == (3, 307)  # the intact base kept m1/m2; s2.jsonl still exists and gave m3 back


def test_temp_files_of_killed_writes_are_removed_under_the_next_lock(two_segments: Ledger) -> None:
    events = two_segments.events_dir
    killed = [events / ".delta-00000009.parquet.k1ll3d_x.tmp", two_segments.root / ".state.json.abc123__.tmp"]
    foreign = events / ".syncthing.base-00000001.parquet.tmp"
    for path in [*killed, foreign]:
        path.write_bytes(b"PAR1 half a file")
    assert {f.kind for f in two_segments.layout().findings if f.path in killed} == {"temp"}
    with two_segments.lock():
        pass
    assert not any(p.exists() for p in killed)
    assert foreign.exists()  # not tokscope's: ignored and reported, never deleted
    assert report() == (3, 307)


def test_a_write_in_progress_outside_the_ledger_lock_is_left_alone(two_segments: Ledger) -> None:
    """alerts.json, the statusline cache and the guard's figures are written under locks of their own:
    a fresh temp file of one may be a write under way (a scan's tidy removed it mid-write once, and
    the TUI's alerts check failed with FileNotFoundError); an old one is a killed write."""
    import os

    fresh = two_segments.root / ".alerts.json.abc123.tmp"
    old = two_segments.root / ".statusline.msgpack.def456.tmp"
    for path in (fresh, old):
        path.write_bytes(b"{")
    os.utime(old, (1, 1))
    assert [f.path for f in two_segments.layout().findings if f.kind == "temp"] == [old]
    with two_segments.lock():
        pass
    assert fresh.exists() and not old.exists()


def test_a_ledger_from_before_digests_is_read_and_then_named(two_segments: Ledger) -> None:
    for path in two_segments.segments():
        kind, seq, _digest = parse_name(path.name)  # type: ignore[misc]
        path.rename(path.with_name(f"{kind}-{seq:08d}.parquet"))
    assert report() == (3, 307)
    assert two_segments.layout().legacy
    with two_segments.lock():
        pass
    assert not two_segments.layout().legacy
    assert all(parse_name(p.name)[2] == digest(p) for p in two_segments.segments())  # type: ignore[index]


def test_a_full_disk_is_one_clear_message(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    transcript(home, "s1.jsonl", claude_line("m1", 100))

    def full(self: pl.DataFrame, file: Any, **kwargs: Any) -> None:
        Path(file).write_bytes(b"PAR1")  # a partial write, as the disk fills
        # what Polars 1.x raises when write() gets ENOSPC (seen on a 64 KiB tmpfs)
        raise pl.exceptions.ComputeError(
            "parquet: File out of specification: underlying IO error: No space left on device (os error 28)"
        )

    with monkeypatch.context() as patch:
        patch.setattr(pl.DataFrame, "write_parquet", full)
        code, _out, err = cli("scan")
    assert code == 1
    assert "no space left on device" in err.lower() and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not list(Ledger().events_dir.iterdir())  # the partial temp file is gone
    assert cli("scan")[0] == 0  # and nothing was lost: the next scan records the turn
    assert report() == (1, 100)


def test_a_segment_removed_while_it_is_checked_is_not_called_damaged(
    two_segments: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tokscope.ledger as ledger_module

    ledger_module._checked.clear()
    real, calls = ledger_module.digest, []

    def vanishing(path: Path) -> str:  # a compaction removes the segment between listing and hashing, once
        calls.append(path)
        if len(calls) == 1:
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return real(path)

    monkeypatch.setattr(ledger_module, "digest", vanishing)
    layout = two_segments.layout()
    assert len(calls) > 1 and not layout.findings
    assert len(current(layout.segments)) == 2


def test_a_damaged_ledger_is_not_exported_as_if_whole(
    two_segments: Ledger, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = home / "shared"
    shared.mkdir()
    monkeypatch.setenv("TOKSCOPE_SHARED", str(shared))
    base = two_segments.segments()[0]
    base.write_bytes(base.read_bytes()[:100])
    code, _out, err = cli("export", "--no-scan")
    assert code == 1 and "doctor --repair" in err
    assert not any(shared.rglob("*.parquet"))
    assert cli("doctor", "--repair")[0] == 0
    code, out, err = cli("export", "--no-scan")
    assert code == 0, err
    assert "Exported 3 events" in out


def test_a_ledger_written_before_clients_were_added_is_read(two_segments: Ledger) -> None:
    """Each release appends clients to the client Enum; segments written with the shorter list (by
    an older tokscope) are read as they were, widened, and compacted into today's schema."""
    older = pl.Enum(list(CLIENTS[:21]))  # the clients of the first releases
    for path in two_segments.segments():
        frame = pl.read_parquet(path).with_columns(pl.col("client").cast(older))
        path.unlink()
        frame.write_parquet(path)  # the digest in the name no longer matches: rename it as a legacy one
        path.rename(path.with_name("-".join(path.name.split("-")[:2]) + ".parquet"))
    assert report() == (3, 307)
    with two_segments.lock():
        state = two_segments.load_state()
        two_segments.maybe_compact(state, force=True)
    assert report() == (3, 307)
    assert two_segments.frame().schema["client"] == CLIENT_ENUM


def test_a_journal_segment_with_foreign_content_is_damaged_not_fatal(two_segments: Ledger) -> None:
    """Named with the digest of its own bytes, but not rows: left out and reported, like a bad digest."""
    import hashlib

    body = b"\x93garbage"
    foreign = two_segments.events_dir / f"delta-00000099-{hashlib.sha256(body).hexdigest()[:16]}.msgpack"
    foreign.write_bytes(body)
    assert [f.path for f in two_segments.layout().damaged] == [foreign]
    assert report() == (3, 307)
