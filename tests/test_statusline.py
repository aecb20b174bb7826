"""``tokscope statusline``: answered from its summary (no Polars) when nothing changed, and right after
another process scanned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_ledger_incremental import line, project

CHECK = """
import json, sys
from tokscope.cli import main
main(["statusline", "--period", "all", "--format", "json"])
print(json.dumps({"polars": "polars" in sys.modules}))
"""


def statusline(*extra: str) -> tuple[dict, bool]:
    out = subprocess.run(
        [sys.executable, "-c", CHECK.replace('"json"]', '"json", ' + ", ".join(f'"{a}"' for a in extra) + "]")],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=True,
    )
    answer, imported = out.stdout.strip().splitlines()[-2:]
    return json.loads(answer), json.loads(imported)["polars"]


def test_unchanged_answers_from_the_summary_without_polars(home: Path) -> None:
    (project(home) / "s1.jsonl").write_text(line("m1", 30) + "\n" + line("m2", 70) + "\n")
    first, imported = statusline()
    assert (first["turns"], imported) == (2, True)  # computed the full way once
    again, imported = statusline()
    assert (again, imported) == (first, False)


def test_right_after_another_process_scanned(home: Path) -> None:
    path = project(home) / "s1.jsonl"
    path.write_text(line("m1", 30) + "\n")
    assert statusline()[0]["turns"] == 1
    with path.open("a") as fh:
        fh.write(line("m2", 70) + "\n")
    subprocess.run([sys.executable, "-m", "tokscope", "scan", "--quiet"], env=os.environ.copy(), check=True)
    answer, imported = statusline("--no-scan")
    assert (answer["turns"], imported) == (2, True)
    assert answer["total_tokens"] == 10 + 30 + 10 + 70


def test_a_damaged_summary_is_only_a_slower_answer(home: Path) -> None:
    from tokscope import paths
    from tokscope import statusline as summary

    (project(home) / "s1.jsonl").write_text(line("m1", 30) + "\n")
    statusline()
    (paths.ledger_dir() / summary.FILE_NAME).write_bytes(b"\xc1garbage")
    answer, imported = statusline()
    assert (answer["turns"], imported) == (1, True)


def test_the_answer_key_is_the_day_in_its_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key's day without zoneinfo (UTC, or the system's own zone) is the day zoneinfo gives."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from tokscope import statusline
    from tokscope.timezone import valid_tz

    assert statusline.key_of("today", "UTC") == f"today|UTC|{datetime.now(UTC).date().isoformat()}"
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: another day than UTC for 14 hours of each
    import time

    time.tzset()
    try:
        want = datetime.now(ZoneInfo("Pacific/Kiritimati")).date().isoformat()
        assert statusline.key_of("today", "Pacific/Kiritimati", local=True).endswith(want)
        assert statusline.key_of("today", "Pacific/Kiritimati").endswith(want)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert valid_tz("Europe/Berlin") and valid_tz("Etc/GMT+5")
    assert not any(valid_tz(n) for n in ("Mars/Base", "../../etc/passwd", "/etc/localtime", "", "Europe/"))
