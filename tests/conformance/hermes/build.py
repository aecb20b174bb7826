"""Builds the Hermes conformance databases (run once from the repository root; the .db files are committed):
``python -m tests.conformance.hermes.build``.

Each case's ``~/.hermes/state.db`` holds the rows a peer's test inserts, in Hermes' ``hermes_state`` schema.
"""

from __future__ import annotations

from pathlib import Path

from tests.session_totals_helpers import make_db
from tests.test_reader_hermes import SMU as SESSION_MODEL_USAGE

HERE = Path(__file__).parent
DB = "home/.hermes/state.db"
SESSIONS = """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY, source TEXT NOT NULL, model TEXT, started_at REAL NOT NULL,
    message_count INTEGER DEFAULT 0, input_tokens INTEGER DEFAULT 0, output_tokens INTEGER DEFAULT 0,
    cache_read_tokens INTEGER DEFAULT 0, cache_write_tokens INTEGER DEFAULT 0, reasoning_tokens INTEGER DEFAULT 0,
    billing_provider TEXT, estimated_cost_usd REAL, actual_cost_usd REAL
);
"""
S = "INSERT INTO sessions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
U = (
    "INSERT INTO session_model_usage (session_id, model, billing_provider, task, input_tokens, output_tokens,"
    " cache_read_tokens, cache_write_tokens, reasoning_tokens, estimated_cost_usd, actual_cost_usd,"
    " first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
T0 = 1_778_000_000.0  # 2026-05-05T16:53:20Z

CASES: dict[str, tuple[str, list[tuple[str, tuple]]]] = {
    # ccusage adapter/hermes/loader.rs loads_billable_hermes_sessions_from_state_db
    "session-row": (SESSIONS, [
        (S, ("session-1", "cli", "claude-sonnet-4-20250514", 1_750_000_000.25, 42, 1200, 300, 50, 20, 10,
             "anthropic", 0.12, 0.34)),
    ]),
    # tokscale sessions/hermes.rs: per-model rows where session_model_usage has them (grouped by model and
    # billing provider, tasks summed), the session total only for sessions without any (an upgrade that
    # did not backfill); never both
    "per-model-usage": (SESSIONS + SESSION_MODEL_USAGE, [
        (S, ("a", "cli", "claude-sonnet-4-6", T0, 6, 117, 25, 0, 0, 0, "anthropic", None, None)),
        (S, ("b", "cli", "gpt-5", T0 - 86400, 2, 50, 10, 0, 0, 0, "openai", None, None)),
        (U, ("a", "claude-sonnet-4-6", "anthropic", "", 100, 20, 0, 0, 0, 0.0, 0.0, T0 + 10, T0 + 600)),
        (U, ("a", "claude-sonnet-4-6", "openrouter", "", 10, 2, 0, 0, 0, 0.0, 0.0, T0 + 700, T0 + 800)),
        (U, ("a", "gpt-5-mini", "openai", "title", 4, 2, 0, 0, 0, 0.0, 0.0, T0 + 20, T0 + 30)),
        (U, ("a", "gpt-5-mini", "openai", "compress", 3, 1, 0, 0, 0, 0.0, 0.0, T0 + 40, T0 + 50)),
    ]),
}  # fmt: skip


def main() -> None:
    for case, (schema, inserts) in CASES.items():
        (HERE / case / DB).unlink(missing_ok=True)
        make_db(HERE / case / DB, schema, inserts)


if __name__ == "__main__":
    main()
