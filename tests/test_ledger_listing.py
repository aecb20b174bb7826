"""A scan that wrote nothing re-checks the ledger only when its folder changed since the last clean check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tokscope.ledger_listing import listing, mark_clean, unchanged_since_clean_check


def test_the_mark_follows_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "ledger"
    (root / "events").mkdir(parents=True)
    (root / "events" / "base-00000001-abcd.parquet").write_bytes(b"x" * 10)
    assert not unchanged_since_clean_check(root)
    mark_clean(root)
    assert unchanged_since_clean_check(root)
    before = listing(root)
    segment = root / "events" / "base-00000001-abcd.parquet"
    segment.write_bytes(b"y" * 10)  # same name and size, new bytes: the mtime moves
    os.utime(segment, ns=(1, 1))
    assert listing(root) != before and not unchanged_since_clean_check(root)
    (root / "events" / "base-00000001 (copy).parquet").write_bytes(b"z")
    mark_clean(root)
    (root / "foreign.txt").write_text("a sync tool's")
    assert not unchanged_since_clean_check(root)  # the root folder counts too


def test_rewriting_a_root_file_keeps_the_mark(tmp_path: Path) -> None:
    """The check reads the root only for names: a statusline rewriting its cache there is no reason to re-check."""
    root = tmp_path / "ledger"
    (root / "events").mkdir(parents=True)
    (root / "statusline.msgpack").write_bytes(b"a")
    mark_clean(root)
    (root / "statusline.msgpack").write_bytes(b"bb")
    os.utime(root / "statusline.msgpack", ns=(5, 5))
    assert unchanged_since_clean_check(root)
    (root / "caf\u00e9 \udcff.txt").write_bytes(b"")  # an odd name is remembered too, never an error
    assert not unchanged_since_clean_check(root)
    mark_clean(root)
    assert unchanged_since_clean_check(root)


def test_a_no_change_rescan_imports_no_polars(home: Path) -> None:
    folder = home / ".claude" / "projects" / "-w"
    folder.mkdir(parents=True)
    (folder / "s.jsonl").write_text(
        '{"type":"assistant","sessionId":"s","timestamp":"2026-11-01T10:00:00Z","requestId":"r",'
        '"message":{"id":"m","model":"claude-sonnet-4-5","usage":{"input_tokens":1,"output_tokens":2}}}\n'
    )
    env = {**os.environ, "HOME": str(home)}
    for command in (["scan", "-q"], ["statusline"], ["scan", "-q"], ["statusline"]):  # the 2nd rewrites its cache
        subprocess.run([sys.executable, "-m", "tokscope", *command], env=env, check=True, capture_output=True)
    code = (
        "import sys; from tokscope.cli import main; main(['scan', '-q']);"
        "sys.exit(3 if 'polars' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0


def test_the_root_names_are_their_owners() -> None:
    """The listing's import-free spelling of the ledger root's own files is each owner's constant."""
    from tokscope import alerts, budget_state, invoices, ledger_listing, quota, scan_seal, scan_state, statusline

    owners = {scan_state.FILE_NAME, scan_state.LOG_NAME, scan_state.LEGACY_NAME, scan_state.LOCK_NAME}
    owners |= {statusline.FILE_NAME}
    owners |= {scan_seal.FILE_NAME, ledger_listing.MARK, alerts.FILE_NAME, alerts.LOCK_NAME, quota.FILE_NAME}
    owners |= {quota.LOCK_NAME, budget_state.FILE_NAME, invoices.FILE_NAME, "health.json", "events", "quarantine"}
    assert owners == ledger_listing.ROOT_FILES


def test_a_seal_coming_and_going_keeps_the_mark(tmp_path: Path) -> None:
    root = tmp_path / "ledger"
    (root / "events").mkdir(parents=True)
    mark_clean(root)
    (root / "seal.msgpack").write_bytes(b"s")  # written by one scan, removed by the next racy one
    (root / "statusline.msgpack").write_bytes(b"s")
    assert unchanged_since_clean_check(root)
