"""Accounts and cost kinds benchmark: what naming accounts and the five kinds add to pricing N events.

    python tests/perf/bench_accounts.py --events 2000000 --repeat 3

Measured on the 2-core box (2 M events, four clients, two accounts, one plan): priced alone 0.06 s,
priced with accounts and kinds 0.11 s, with an ``[[account]]`` rule 0.12 s (median of 3).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

import polars as pl

from tokscope import accounts, plans
from tokscope.events import CLIENTS, EVENT_SCHEMA
from tokscope.pricing import load_table, price
from tokscope.pricing.kinds import estimated_clients, with_cost_kinds


def events(n: int) -> pl.DataFrame:
    """``n`` events: four clients, half of them under a second Claude config dir."""
    return pl.DataFrame(
        {
            "device_id": ["d"] * n,
            "client": ["claude-code", "codex", "goose", "opencode"] * (n // 4),
            "provider": ["anthropic"] * n,
            "model": ["claude-sonnet-4-5"] * n,
            "workspace": ["/w"] * n,
            "session_id": ["s"] * n,
            "agent": [None] * n,
            "event_key": [str(i) for i in range(n)],
            "ts": [datetime(2026, 11, 1, tzinfo=UTC)] * n,
            "input": [10] * n,
            "output": [5] * n,
            "reasoning": [0] * n,
            "cache_read": [100] * n,
            "cache_write_5m": [0] * n,
            "cache_write_1h": [0] * n,
            "source_cost": [None] * n,
            "service_tier": [None] * n,
            "account": [None, "~/.claude-work"] * (n // 2),
        },
        schema=EVENT_SCHEMA,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    frame = events(args.events // 4 * 4).lazy()
    table = load_table([])
    plan_list, _ = plans.parse([{"name": "Claude Max 20x", "accounts": ["~/.claude"]}])
    rules, _ = accounts.parse_rules([{"name": "work", "path": "*-work"}])
    estimated = estimated_clients(CLIENTS)

    def timed(build: object) -> float:
        runs = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            build().collect()  # type: ignore[operator]
            runs.append(time.perf_counter() - start)
        return statistics.median(runs)

    alone = timed(lambda: price(frame, table))
    both = timed(lambda: with_cost_kinds(accounts.with_accounts(price(frame, table), []), plan_list, estimated))
    ruled = timed(lambda: with_cost_kinds(accounts.with_accounts(price(frame, table), rules), plan_list, estimated))
    print(f"{args.events:,} events: priced {alone:.3f} s, + accounts and kinds {both:.3f} s, with a rule {ruled:.3f} s")


if __name__ == "__main__":
    main()
