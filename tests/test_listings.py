"""Cached directory walks: a rescan reuses a walk only while every directory in it is unchanged."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from tokscope.readers import base as reader_base
from tokscope.readers import get_reader

from tests.test_ledger_incremental import line, project, totals
from tokscope import scan as scan_mod
from tokscope.scan import scan

READERS = [get_reader("claude-code")]
OLD = time.time() - 3600


def run():
    return scan(readers=READERS, workers=1)


def settle(*dirs: Path) -> None:
    """Date ``dirs`` an hour back, so their listing is not racy and may be reused."""
    for d in dirs:
        os.utime(d, (OLD, OLD))


def count_listings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    listed: list[str] = []
    real = os.scandir

    def scandir(path):  # type: ignore[no-untyped-def]
        listed.append(str(path))
        return real(path)

    monkeypatch.setattr(reader_base.os, "scandir", scandir)
    return listed


def test_an_unchanged_tree_is_not_listed_again(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = project(home)
    (folder / "s1.jsonl").write_text(line("m1", 30) + "\n")
    settle(folder, folder.parent)
    assert run().files == 1
    listed = count_listings(monkeypatch)
    again = run()
    assert (again.files, again.read) == (1, 0)
    assert [d for d in listed if d.startswith(str(folder.parent))] == []  # HOME itself is listed for ~/.claude-*


def test_a_file_added_to_a_listed_folder_is_found(home: Path) -> None:
    folder = project(home)
    (folder / "s1.jsonl").write_text(line("m1", 30) + "\n")
    settle(folder, folder.parent)
    run()
    (folder / "s2.jsonl").write_text(line("m2", 70) + "\n")  # changes the folder's mtime
    summary = run()
    assert (summary.files, summary.read) == (2, 1)
    assert totals() == (2, 100)


def test_a_file_in_a_new_subfolder_is_found(home: Path) -> None:
    folder = project(home)
    (folder / "s1.jsonl").write_text(line("m1", 30) + "\n")
    settle(folder, folder.parent)
    run()
    sub = folder / "s1" / "subagents"
    sub.mkdir(parents=True)
    (sub / "agent-a.jsonl").write_text(line("m3", 5) + "\n")
    assert run().files == 2
    assert totals() == (2, 35)


def test_a_removed_file_is_forgotten_but_its_events_stay(home: Path) -> None:
    folder = project(home)
    (folder / "s1.jsonl").write_text(line("m1", 30) + "\n")
    (folder / "s2.jsonl").write_text(line("m2", 70) + "\n")
    settle(folder, folder.parent)
    run()
    (folder / "s2.jsonl").unlink()
    assert run().files == 1
    assert totals() == (2, 100)


def test_a_folder_changed_in_the_same_tick_as_its_listing_is_listed_again(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = project(home)
    (folder / "s1.jsonl").write_text(line("m1", 30) + "\n")  # mtime now: racy
    run()
    listed = count_listings(monkeypatch)
    run()
    assert str(folder) in listed


@pytest.mark.parametrize("content", [b"", b"\x81\xa1k\x01", b"not msgpack at all"])
def test_a_damaged_cache_means_walking_again(home: Path, content: bytes) -> None:
    folder = project(home)
    (folder / "s1.jsonl").write_text(line("m1", 30) + "\n")
    settle(folder, folder.parent)
    run()
    cache = scan_mod._listings_path()
    assert cache.exists()
    cache.write_bytes(content)
    (folder / "s2.jsonl").write_text(line("m2", 70) + "\n")
    assert run().files == 2
    assert totals() == (2, 100)
