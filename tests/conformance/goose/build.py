"""Builds the Goose conformance databases (run once from the repository root; the .db files are committed):
``python -m tests.conformance.goose.build``.

Each case's ``sessions.db`` holds the rows a peer's test inserts, in Goose's own ``sessions`` schema.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.session_totals_helpers import make_db

HERE = Path(__file__).parent
#: Where each case keeps its database: Goose's macOS location (read on every OS) and ``$GOOSE_PATH_ROOT``.
DB = {
    "accumulated-extra": "home/Library/Application Support/goose/sessions/sessions.db",
    "created-at-forms": "home/goose-root/data/sessions/sessions.db",
}
SCHEMA = """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', session_type TEXT NOT NULL DEFAULT 'user',
    working_dir TEXT NOT NULL DEFAULT '', created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP,
    total_tokens INTEGER, input_tokens INTEGER, output_tokens INTEGER,
    accumulated_total_tokens INTEGER, accumulated_input_tokens INTEGER, accumulated_output_tokens INTEGER,
    provider_name TEXT, model_config_json TEXT
);
"""
COLUMNS = (
    "id, created_at, total_tokens, input_tokens, output_tokens,"
    " accumulated_total_tokens, accumulated_input_tokens, accumulated_output_tokens, provider_name, model_config_json"
)


def config(model: str) -> str:
    return json.dumps({"model_name": model, "context_limit": 200000})


CASES: dict[str, list[tuple]] = {
    # ccusage adapter/goose/loader.rs loads_accumulated_tokens_from_goose_sqlite
    "accumulated-extra": [
        ("session-a", "2026-05-01 01:02:03", None, None, None, 180, 100, 50, "anthropic",
         config("claude-sonnet-4-20250514")),
    ],
    # tokscale sessions/goose.rs: the created_at forms it parses, the model configs it rejects,
    # and the plain columns when the accumulated ones are NULL
    "created-at-forms": [
        ("rfc3339", "2026-04-14T16:18:53Z", None, None, None, 30, 20, 10, "openai", config("gpt-5")),
        ("sqlite-ts", "2026-04-14 16:18:53", None, None, None, 7, 5, 2, None, config("gpt-5")),
        ("date-only", "2026-04-14", 12, 8, 4, None, None, None, "openai", config("gpt-5")),
        ("blank-name", "2026-04-14 10:00:00", None, None, None, 9, 9, 0, "openai", config("  ")),
        ("not-json", "2026-04-14 10:00:00", None, None, None, 9, 9, 0, "openai", "not json"),
    ],
}  # fmt: skip


def main() -> None:
    insert = f"INSERT INTO sessions ({COLUMNS}) VALUES ({', '.join('?' * 10)})"
    for case, rows in CASES.items():
        (HERE / case / DB[case]).unlink(missing_ok=True)
        make_db(HERE / case / DB[case], SCHEMA, [(insert, row) for row in rows])


if __name__ == "__main__":
    main()
