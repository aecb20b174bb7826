"""Shared reader helpers."""

from __future__ import annotations

from pathlib import Path

from tokscope.readers.base import first_sight


def test_a_file_reached_twice_is_seen_once(tmp_path: Path) -> None:
    real = tmp_path / "a.jsonl"
    real.write_text("{}\n")
    alias = tmp_path / "alias.jsonl"
    alias.symlink_to(real)
    seen: set[Path] = set()
    assert first_sight(real, seen)
    assert not first_sight(alias, seen)
    assert not first_sight(tmp_path / "." / "a.jsonl", seen)
    assert first_sight(tmp_path / "b.jsonl", seen)  # another file, even one that does not exist yet
