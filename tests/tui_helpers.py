"""Helpers for the TUI tests: tiny Claude Code transcripts, a fixed clock, waiting for workers."""

from __future__ import annotations

import json
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from textual.worker import WorkerCancelled

#: The clock of every app test (a Friday afternoon).
NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
DEVICE_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def claude_line(ts: str, model: str, msg_id: str, session: str, cwd: str, inp: int, out: int, cr: int, cw: int) -> str:
    """One Claude Code assistant line with usage."""
    return json.dumps(
        {
            "type": "assistant",
            "timestamp": ts,
            "sessionId": session,
            "requestId": "req_" + msg_id,
            "cwd": cwd,
            "message": {
                "id": msg_id,
                "model": model,
                "usage": {
                    "input_tokens": inp,
                    "output_tokens": out,
                    "cache_read_input_tokens": cr,
                    "cache_creation_input_tokens": cw,
                },
            },
        }
    )


def transcript(home: Path, cwd: str, session: str) -> Path:
    """The transcript path Claude Code would use for ``session`` in ``cwd``."""
    folder = home / ".claude" / "projects" / cwd.replace("/", "-")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{session}.jsonl"


def write_fixture(home: Path) -> dict[str, Path]:
    """Two sessions, three turns (hand-checked totals in the tests):

    * s1 in /w/alpha, claude-sonnet-4-5, 2026-11-20: (in 100, out 50, cache read 1000, write 200) = 1350
      and (10, 5, 0, 0) = 15;
    * s2 in /w/beta, claude-opus-4-1, 2026-11-10: (1, 2, 3, 4) = 10.
    """
    from tokscope.sync.identity import Device, save_device

    save_device(Device(id=DEVICE_ID, name="testbox"))
    s1 = transcript(home, "/w/alpha", "s1")
    s1.write_text(
        claude_line("2026-11-20T10:00:00Z", "claude-sonnet-4-5", "m1", "s1", "/w/alpha", 100, 50, 1000, 200)
        + "\n"
        + claude_line("2026-11-20T10:05:00Z", "claude-sonnet-4-5", "m2", "s1", "/w/alpha", 10, 5, 0, 0)
        + "\n"
    )
    s2 = transcript(home, "/w/beta", "s2")
    s2.write_text(claude_line("2026-11-10T09:00:00Z", "claude-opus-4-1", "m3", "s2", "/w/beta", 1, 2, 3, 4) + "\n")
    return {"s1": s1, "s2": s2}


async def settle(app: Any, pilot: Any, rounds: int = 4) -> None:
    """Wait until no worker runs and no refresh is pending (never sleeps blindly)."""
    for _ in range(rounds):
        with suppress(WorkerCancelled):
            await app.workers.wait_for_complete()
        await pilot.pause()
        if not app.busy and not any(w.is_running for w in app.workers):
            with suppress(WorkerCancelled):
                await app.workers.wait_for_complete()
            await pilot.pause()
            return


def table_rows(app: Any) -> list[str]:
    """The row keys of the main table, in display order."""
    from tokscope.widgets.usage_table import UsageTable

    return app.main.query_one(UsageTable).row_keys
