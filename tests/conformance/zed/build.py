"""Builds the Zed conformance databases (run once from the repository root; the .db files are committed):
``python -m tests.conformance.zed.build``.

Each case's ``~/.local/share/zed/threads/threads.db`` holds the threads a peer's test inserts: Zed's
``threads`` table with the thread JSON (``DbThread``) as ``json`` or zstd-compressed ``data``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import zstandard

from tests.session_totals_helpers import make_db

HERE = Path(__file__).parent
DB = "home/.local/share/zed/threads/threads.db"
SCHEMA = """
CREATE TABLE threads (
    id TEXT PRIMARY KEY, summary TEXT NOT NULL, updated_at TEXT NOT NULL, data_type TEXT NOT NULL,
    data BLOB NOT NULL, parent_id TEXT, folder_paths TEXT, folder_paths_order TEXT, created_at TEXT
);
"""
#: Zed before threads had created_at and folders.
OLD_SCHEMA = """
CREATE TABLE threads (
    id TEXT PRIMARY KEY, summary TEXT NOT NULL, updated_at TEXT NOT NULL, data_type TEXT NOT NULL, data BLOB NOT NULL
);
"""
UPDATED = "2026-05-01T12:30:00Z"


def usage(i: int, o: int, cw: int | None = None, cr: int | None = None) -> dict[str, int]:
    found = {"input_tokens": i, "output_tokens": o}
    if cw is not None:
        found |= {"cache_creation_input_tokens": cw, "cache_read_input_tokens": cr or 0}
    return found


def thread(provider: str, model: str, requests: Any, cumulative: Any) -> bytes:
    return json.dumps(
        {
            "version": "0.3.0",
            "title": "Test thread",
            "messages": [],
            "updated_at": UPDATED,
            "request_token_usage": requests,
            "cumulative_token_usage": cumulative,
            "model": {"provider": provider, "model": model},
            "imported": False,
        },
        separators=(",", ":"),
    ).encode()


def zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(data)


def row(tid: str, kind: str, data: bytes, created: str | None = None, folders: str | None = None,
        order: str | None = None) -> tuple:  # fmt: skip
    return (tid, "Test thread", UPDATED, kind, zstd(data) if kind == "zstd" else data, folders, order, created)


CASES: dict[str, tuple[str, list[tuple]]] = {
    # tokscale sessions/zed.rs parse_zed_sqlite_reads_zstd_hosted_thread_usage
    "hosted-zstd": (SCHEMA, [
        row("thread-1", "zstd", thread("zed.dev", "claude-sonnet-4-5",
            {"user-1": usage(100, 20, 5, 10), "user-2": usage(50, 7)}, usage(400, 60, 5, 30)),
            "2026-05-01T12:00:00Z", "/workspace/a\n/workspace/b", "1,0"),
    ]),
    # tokscale parse_zed_sqlite_uses_cumulative_usage_when_request_usage_is_absent and
    # parse_zed_sqlite_falls_back_to_request_usage_without_cumulative_total
    "usage-fallbacks": (SCHEMA, [
        row("cumulative-only", "json", thread("zed.dev", "gpt-5.2", {}, usage(12, 3, 2, 4))),
        row("requests-only", "zstd", thread("zed.dev", "gpt-5.2",
            {"user-1": usage(100, 20), "user-2": usage(50, 7)}, {})),
    ]),
    # tokscale parse_zed_sqlite_reads_byok_provider_threads and ..._skips_providers_logged_by_other_clients
    "byok-providers": (SCHEMA, [
        row("thread-1", "zstd", thread("deepseek", "deepseek-v4-flash", {"user-1": usage(100, 20)}, usage(100, 20))),
        row("thread-2", "zstd", thread("anthropic", "claude-sonnet-4-5", {"user-1": usage(100, 20)}, usage(100, 20))),
        row("thread-3", "zstd", thread("lmstudio", "qwen3-coder-30b", {"user-1": usage(100, 20)}, usage(100, 20))),
    ]),
}  # fmt: skip


def main() -> None:
    for case, (schema, rows) in CASES.items():
        write(HERE / case / DB, schema, rows, "(id, summary, updated_at, data_type, data, folder_paths,"
              " folder_paths_order, created_at) VALUES (?,?,?,?,?,?,?,?)")  # fmt: skip
    # tokscale parse_zed_sqlite_supports_pre_created_at_schema
    old = thread("zed.dev", "gpt-5.2", {"user-1": usage(12, 3)}, usage(12, 3))
    write(HERE / "old-schema" / DB, OLD_SCHEMA, [("thread-1", "Test thread", UPDATED, "zstd", zstd(old))],
          "(id, summary, updated_at, data_type, data) VALUES (?,?,?,?,?)")  # fmt: skip


def write(path: Path, schema: str, rows: list[tuple], insert: str) -> None:
    path.unlink(missing_ok=True)
    make_db(path, schema, [(f"INSERT INTO threads {insert}", row) for row in rows])


if __name__ == "__main__":
    main()
