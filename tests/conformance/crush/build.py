"""Builds the Crush conformance databases (run once from the repository root; the .db files are committed):
``python -m tests.conformance.crush.build``.

Each case's project database ``~/src/app/.crush/crush.db`` holds the rows a peer's test inserts, in
Crush's ``sessions`` schema; ``CRUSH_PROJECTS`` names it (the project index lives under XDG_DATA_HOME,
which the runner points at tokscope's own files).
"""

from __future__ import annotations

from pathlib import Path

from tests.session_totals_helpers import make_db

HERE = Path(__file__).parent
DB = "home/src/app/.crush/crush.db"
SCHEMA = """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY, parent_session_id TEXT, title TEXT, message_count INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL DEFAULT 0
);
"""
INSERT = (
    "INSERT INTO sessions (id, parent_session_id, title, message_count, prompt_tokens, completion_tokens, cost,"
    " updated_at, created_at) VALUES (?,?,?,?,?,?,?,?,?)"
)

CASES: dict[str, list[tuple]] = {
    # tokscale sessions/crush.rs test_parse_crush_sqlite_imports_root_sessions_with_created_at_timestamp
    "root-sessions": [
        ("root-1", None, "Root", 7, 90_000, 2_000, 12.5, 1_742_342_000, 1_742_300_000),
        ("child-1", "root-1", "Child", 3, 10_000, 500, 99.0, 1_742_342_001, 1_742_300_100),
        ("empty-root", None, "Empty", 0, 0, 0, 0.0, 1_742_342_002, 1_742_300_200),
    ],
    # tokscale sessions/crush.rs test_parse_crush_sqlite_skips_sessions_without_valid_created_at
    "no-created-at": [
        ("root-1", None, "Root", 3, 0, 0, 4.5, 1_742_342_000, 0),
    ],
}  # fmt: skip


def main() -> None:
    for case, rows in CASES.items():
        (HERE / case / DB).unlink(missing_ok=True)
        make_db(HERE / case / DB, SCHEMA, [(INSERT, row) for row in rows])


if __name__ == "__main__":
    main()
