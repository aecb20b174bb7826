"""Pricing benchmark: load the price table, then price N events (default 5 M).

Events mix 40 model strings (Claude dated ids, Codex, Gemini with a long-context tier, a dated
price version, a fast-mode turn share, unknown models) so every code path runs.

    python tests/perf/bench_pricing.py --events 5000000 --repeat 3

Targets (issue 3): table load <= 20 ms, 5 M events priced <= 1 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import polars as pl

from tokscope.events import EVENT_SCHEMA

MODELS = (
    [
        ("anthropic", "claude-sonnet-4-5-20250929"),
        ("anthropic", "claude-opus-4-6"),
        ("anthropic", "claude-opus-4-8"),
        ("anthropic", "claude-haiku-4-5-20251001"),
        ("anthropic", "claude-sonnet-4-20250514"),
        ("anthropic", "claude-opus-4-1-20250805"),
        ("anthropic", "claude-3-5-haiku-20241022"),
        ("anthropic", "claude-sonnet-4.5"),
        ("anthropic", "claude-opus-4-6[1m]"),
        ("openai", "gpt-5-codex"),
        ("openai", "gpt-5.1-codex-max"),
        ("openai", "gpt-5.4"),
        ("openai", "gpt-5.5"),
        ("openai", "gpt-5"),
        ("openai", "gpt-5-high"),
        ("google", "gemini-2.5-pro"),
        ("google", "gemini-2.5-flash"),
        ("google", "gemini-3.1-pro-preview"),
        ("zai", "glm-4.6"),
        ("openrouter", "anthropic/claude-sonnet-4.5"),
        ("openrouter", "qwen/qwen3-coder-plus"),
        ("deepseek", "deepseek-chat"),
        ("moonshot", "kimi-k2-0905-preview"),
        ("xai", "grok-code-fast-1"),
        ("anthropic", "unknown-model-a"),
        ("openai", "unknown-model-b"),
    ]
    + [("anthropic", f"claude-sonnet-4-5-2025{m:02d}01") for m in range(1, 13)]
    + [
        ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ("vertex", "claude-sonnet-4-5@20250929"),
    ]
)


def make_events(n: int, seed: int = 7) -> pl.DataFrame:
    """``n`` synthetic events in the event schema (pseudo-random via hashing, no numpy)."""
    names = pl.DataFrame(
        {"_m": range(len(MODELS)), "provider": [p for p, _ in MODELS], "model": [m for _, m in MODELS]}
    )

    def rnd(salt: int, k: int) -> pl.Expr:
        return (pl.int_range(n, dtype=pl.UInt64).hash(seed * 1000 + salt) % k).cast(pl.Int64)

    start = 1_767_225_600_000_000  # 2026-01-01, so the 2026-03-13 price change is crossed
    frame = (
        pl.select(
            _m=rnd(1, len(MODELS)),
            ts=start + rnd(2, 300 * 86_400_000_000),
            input=rnd(3, 20_000),
            output=rnd(4, 8_000),
            reasoning=rnd(5, 1_000),
            cache_read=rnd(6, 400_000),
            cache_write_5m=rnd(7, 30_000),
            cache_write_1h=rnd(8, 10_000),
            service_tier=pl.when(rnd(9, 20) == 0).then(pl.lit("fast")),
        )
        .join(names, on="_m", how="left")
        .with_columns(
            device_id=pl.lit("dev-1"),
            client=pl.when(pl.col("provider") == "openai").then(pl.lit("codex")).otherwise(pl.lit("claude-code")),
            workspace=pl.lit("/w"),
            session_id=pl.lit("s"),
            agent=pl.lit(None, pl.String),
            event_key=pl.int_range(n).cast(pl.String),
            source_cost=pl.lit(None, pl.Float64),
        )
    )
    return frame.with_columns(
        pl.col("ts").cast(pl.Datetime("us", "UTC")),
        *[pl.col(c).cast(t) for c, t in EVENT_SCHEMA.items() if c != "ts"],
    ).select(list(EVENT_SCHEMA))


LOAD_SNIPPET = """
import time
t = time.perf_counter()
from tokscope.pricing import load_table
t1 = time.perf_counter()
table = load_table([])
t2 = time.perf_counter()
print(f"{(t1 - t) * 1000:.1f} {(t2 - t1) * 1000:.1f}")
"""


def main() -> int:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from tokscope.pricing import load_table, price

    loads = []
    for _ in range(5):
        t = time.perf_counter()
        table = load_table([])
        loads.append((time.perf_counter() - t) * 1000)
    out = subprocess.run([sys.executable, "-c", LOAD_SNIPPET], capture_output=True, text=True, check=True)
    imp, cold = out.stdout.split()
    print(f"table load: median {statistics.median(loads):.1f} ms (warm, {len(table.models):,} models)")
    print(f"fresh process: import tokscope.pricing {imp} ms, first load_table {cold} ms")

    events = make_events(args.events)
    times = []
    cpu = []
    for _ in range(args.repeat):
        table = load_table([])  # fresh table: resolution cache empty, as in a real run
        t, c = time.perf_counter(), time.process_time()
        frame = price(events.lazy(), table).collect()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    states = frame["price_state"].value_counts().sort("price_state")
    total = frame["cost"].sum()
    best, median = min(times), statistics.median(times)
    print(
        f"price {args.events:,} events: best {best:.3f} s, median {median:.3f} s "
        f"({args.events / median / 1e6:.1f} M events/s), CPU {statistics.median(cpu):.3f} s; total ${total:,.2f}"
    )
    print(dict(states.iter_rows()), f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
