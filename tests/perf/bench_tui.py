"""TUI benchmark: first paint with a big ledger, append -> screen latency, idle CPU.

    python tests/perf/bench_tui.py --events 1000000

Builds a ledger of N synthetic events (Polars, no logs) under a temporary HOME,
runs the app headless (``run_test``, 120×36) and reports:

* in-process shell / first paint: app construction until ready / the first data view
  (the app's own prefetch; this process already imported everything);
* append -> screen: a line appended to a Claude Code transcript until the table
  shows the new turn, with no key pressed (watchdog -> coalesced scan -> reload);
* key -> view: a key that changes the view (period, group-by, tab) until the screen shows it;
* idle CPU: process CPU time over a quiet interval, as a percentage;
* fresh starts: ``tokscope``'s own start-up sequence in new processes, timed from the parent's
  launch (interpreter start-up included) and from the app's construction; cold (no view cache:
  ledger -> merge -> pricing -> view) and cached (the last start-up view painted at once).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def build_ledger(n: int, seed: int = 1) -> None:
    """Write ``n`` synthetic events into the (temporary HOME's) ledger as one compacted base."""
    import polars as pl

    from tokscope.events import LEDGER_SCHEMA
    from tokscope.ledger import Ledger

    now = datetime(2026, 11, 20, 15, tzinfo=UTC)
    start = int((now - timedelta(days=90)).timestamp() * 1e6)
    span = int(now.timestamp() * 1e6) - start
    clients = ["claude-code", "codex", "gemini-cli", "opencode"]
    models = ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5", "gpt-5-codex", "gpt-5", "gemini-2.5-pro"]
    i = pl.int_range(n, dtype=pl.UInt64)

    def rand(k: int, salt: int) -> pl.Expr:
        """A pseudo-random integer in [0, k) per row (hash of the row number)."""
        return (i.hash(seed * 1000 + salt) % k).cast(pl.Int64)

    frame = (
        pl.select(
            session=rand(n // 40 + 1, 5),
            provider=pl.lit(pl.Series(["anthropic", "openai", "google"])).gather(rand(3, 2)),
            model=pl.lit(pl.Series(models)).gather(rand(len(models), 3)),
            agent=pl.lit(None, pl.String),
            event_key=pl.format("k{}", i),
            ts=rand(span, 6) + start,
            input=rand(3000, 7),
            output=rand(4000, 8),
            reasoning=rand(500, 9),
            cache_read=rand(150_000, 10),
            cache_write_5m=rand(20_000, 11),
            cache_write_1h=rand(2_000, 12),
            source_cost=pl.lit(None, pl.Float64),
            service_tier=pl.lit(None, pl.String),
            rank=pl.lit(1, pl.Int64),
        )
        .with_columns(  # a session has one client and one workspace, as in real logs
            client=pl.lit(pl.Series(clients)).gather(pl.col("session") % len(clients)),
            workspace=pl.format("/home/dev/project-{}", pl.col("session") % 12),
            session_id=pl.format("s{}", pl.col("session")),
        )
        .with_columns(
            pl.col("ts").cast(pl.Datetime("us", "UTC")),
            *[pl.col(c).cast(t) for c, t in LEDGER_SCHEMA.items() if c != "ts"],
        )
        .select(list(LEDGER_SCHEMA))
    )
    ledger = Ledger()
    with ledger.lock():
        state = ledger.load_state()
        ledger.append(frame, state)
        ledger.maybe_compact(state, force=True)
        ledger.save_state(state)


def claude_line(ts: datetime, key: str) -> str:
    """One Claude Code assistant line."""
    return json.dumps(
        {
            "type": "assistant",
            "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "sessionId": "live",
            "cwd": "/home/dev/live",
            "message": {
                "id": key,
                "model": "claude-sonnet-4-5",
                "usage": {"input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 30},
            },
        }
    )


async def first_paint(cold: bool) -> dict[str, float]:
    """Start the app as ``tokscope`` does (prefetch, then import Textual) and time its first paint.

    Runs in a fresh process; ``TOKSCOPE_BENCH_LAUNCH`` is the parent's wall clock just before
    it spawned us, so ``launch_to_paint_s`` includes the interpreter's own start-up.
    """
    wall0, perf0 = time.time(), time.perf_counter()
    launch = float(os.environ["TOKSCOPE_BENCH_LAUNCH"])
    if cold:
        from tokscope.paths import cache_dir

        (cache_dir() / "tui-view.json").unlink(missing_ok=True)
    from tokscope.tui.loading import start_prefetch

    start_prefetch()
    from tokscope.tui.app import make_app

    imports = time.perf_counter() - perf0
    app = make_app()
    app.animation_level = "none"
    async with app.run_test(size=(120, 36)) as pilot:
        while "shown" not in app.timings:
            await asyncio.sleep(0.002)
        shown = app.timings["shown"]
        out = {
            "launch_to_paint_s": wall0 - launch + (shown - perf0),
            "imports_s": imports,
            "app_to_shell_s": app.timings["ready"] - app.timings["start"],
            "app_to_paint_s": shown - app.timings["start"],
            "from_view_cache": float("cached" in app.timings),
        }
        while "loaded" not in app.timings:
            await asyncio.sleep(0.005)
        out["launch_to_live_data_s"] = wall0 - launch + (app.timings["loaded"] - perf0)
        for _ in range(100):  # let the start-up scan finish and the view cache be written
            await pilot.pause(0.05)
            if not app.busy:
                break
    return out


def spawn_first_paint(mode: str) -> dict[str, float]:
    """Run ``first_paint`` in a fresh process; its figures."""
    env = {**os.environ, "TOKSCOPE_BENCH_LAUNCH": repr(time.time())}
    done = subprocess.run(
        [sys.executable, __file__, "--first-paint", mode], env=env, check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


async def run(idle_seconds: float, appends: int) -> dict[str, float]:
    """Start the app, wait for the first paint, measure appends and idle CPU."""
    from contextlib import suppress

    from textual.worker import WorkerCancelled

    from tokscope.config import Config
    from tokscope.tui.app import make_app

    home = Path(os.environ["HOME"])
    transcript = home / ".claude" / "projects" / "-home-dev-live" / "live.jsonl"
    transcript.parent.mkdir(parents=True, exist_ok=True)
    transcript.write_text(claude_line(datetime.now(UTC), "seed") + "\n")
    from tokscope.scan import scan

    scan()  # the transcript is known, so the app's own start-up scan finds nothing new
    app = make_app(Config(), tz="UTC", live=True)
    app.animation_level = "none"
    out: dict[str, float] = {}
    async with app.run_test(size=(120, 36)) as pilot:
        while "shown" not in app.timings:
            await asyncio.sleep(0.005)
        out["in_process_shell_s"] = app.timings["ready"] - app.timings["start"]
        out["in_process_paint_s"] = app.timings["shown"] - app.timings["start"]
        for _ in range(50):
            with suppress(WorkerCancelled):
                await app.workers.wait_for_complete()
            await pilot.pause()
            if not app.busy:
                break
        latencies = []
        for i in range(appends):
            turns = app.view.totals["turns"]
            started = time.perf_counter()
            with transcript.open("a") as fh:
                fh.write(claude_line(datetime.now(UTC), f"live-{i}") + "\n")
            while app.view.totals["turns"] == turns:
                await asyncio.sleep(0.005)
                if time.perf_counter() - started > 10:
                    raise TimeoutError("the appended turn never showed")
            latencies.append(app.timings["updated"] - started)
            await pilot.pause(0.3)
        out["append_to_screen_s_max"] = max(latencies)
        out["append_to_screen_s_median"] = sorted(latencies)[len(latencies) // 2]
        # a key that changes the view: period, second group-by, tabs (each a new aggregation)
        for keys in ("p", "p", "g", "2", "3", "4", "6", "1"):
            started = time.perf_counter()
            await pilot.press(keys)
            while app.view is None or app.view.state != app.state:
                await asyncio.sleep(0.002)
            out[f"key_{keys}_to_view_s"] = max(out.get(f"key_{keys}_to_view_s", 0.0), time.perf_counter() - started)
        await pilot.pause(0.5)
        before = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        await asyncio.sleep(idle_seconds)
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        out["idle_cpu_percent"] = 100 * cpu / (time.perf_counter() - t0)
        out["events"] = float(app.loaded.events.height)
    return out


def main() -> int:
    """Run the benchmark in a temporary HOME and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle to measure CPU over")
    parser.add_argument("--appends", type=int, default=5)
    parser.add_argument("--starts", type=int, default=3, help="fresh-process starts to time, cold and cached")
    parser.add_argument("--first-paint", choices=("cold", "cached"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.first_paint:  # a fresh process on the HOME of the main run
        print(json.dumps(asyncio.run(first_paint(args.first_paint == "cold"))))
        return 0
    with tempfile.TemporaryDirectory(prefix="tokscope-bench-tui-") as tmp:
        os.environ["HOME"] = tmp
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "CLAUDE_CONFIG_DIR", "CODEX_HOME"):
            os.environ.pop(name, None)
        t = time.perf_counter()
        build_ledger(args.events)
        print(f"ledger of {args.events:,} events built in {time.perf_counter() - t:.1f}s", file=sys.stderr)
        result = asyncio.run(run(args.idle, args.appends))
        for key, value in result.items():
            print(f"{key:28s} {value:,.3f}")
        for mode in ("cold", "cached"):
            runs = [spawn_first_paint(mode) for _ in range(args.starts)]
            print(f"-- {args.starts} fresh starts, {mode} (no view cache)" if mode == "cold" else f"-- {mode}")
            for key in runs[0]:
                values = sorted(r[key] for r in runs)
                shown = " / ".join(f"{v:.3f}" for v in values)
                print(f"{key:28s} {shown}   median {values[len(values) // 2]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
