"""``tokscope mcp``: a stdio MCP server that lets an agent ask what its usage cost.

Read-only over the merged ledger (this device and trusted devices' snapshots), priced like
``tokscope report``: every figure comes from the usage the provider recorded on each turn. The
official ``mcp`` SDK is imported only on this path.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokscope.format import iso_utc

if TYPE_CHECKING:
    import polars as pl
    from mcp.server.mcpserver import MCPServer

    from tokscope.usage import Usage

INSTRUCTIONS = (
    "tokscope reads the usage logs of AI coding agents (Claude Code, Codex, OpenCode, Gemini CLI …) "
    "on this machine and on the user's other devices, and prices every turn at list (API) prices. "
    "Use it to answer what a session, a project or a period cost, and whether something is burning "
    "tokens abnormally. Costs are USD; null means no price is known (never read it as $0)."
)

#: Seconds during which a finished scan is fresh enough for the next call.
SCAN_INTERVAL = 15.0


@dataclass
class UsageSource:
    """Where the server's answers come from: the merged, priced events, refreshed by scanning."""

    scan: bool = True
    _scanned_at: float = float("-inf")

    def usage(self) -> tuple[Usage, str]:
        """The merged, priced events, after an incremental scan if the last one is stale; and the timezone."""
        from tokscope import config as config_mod
        from tokscope.timezone import local_tz
        from tokscope.usage import load_usage

        # no need to guard stdout: while serving, the SDK points fd 1 (ours and the scan workers') at stderr
        if self.scan and time.monotonic() - self._scanned_at > SCAN_INTERVAL:
            from tokscope.cli.common import run_scan

            run_scan()
            self._scanned_at = time.monotonic()
        settings = config_mod.load()
        return load_usage(settings), settings.timezone or local_tz()


def _fail(message: str) -> Exception:
    from mcp.server.mcpserver.exceptions import ToolError

    return ToolError(message)


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else iso_utc(ts)


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows for the JSON edge: costs rounded like ``report``, instants as ISO text."""
    import polars as pl

    from tokscope.format import COST_DECIMALS

    frame = frame.with_columns(pl.col(pl.Float64).round(COST_DECIMALS))
    frame = frame.with_columns(pl.col(pl.Datetime).dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ"))
    return frame.to_dicts()


def _period(period: str) -> str:
    from tokscope.query import PERIODS

    if period not in PERIODS:
        raise _fail(f"unknown period {period!r}: use one of {', '.join(PERIODS)}")
    return period


def usage_summary(
    source: UsageSource, period: str, group_by: list[str], client: str | None = None, model: str | None = None
) -> dict[str, Any]:
    """Grouped usage rows and totals, as ``tokscope report --format json``."""
    from tokscope.cli.devices import with_device_names
    from tokscope.events import CLIENTS
    from tokscope.format import round_cost
    from tokscope.query import GROUP_KEYS, Query, aggregate, today_in

    bad = [k for k in group_by if k not in GROUP_KEYS]
    if bad:
        raise _fail(f"unknown group_by key {', '.join(bad)}: use any of {', '.join(GROUP_KEYS)}")
    if client and client not in CLIENTS:
        raise _fail(f"unknown client {client!r}: use one of {', '.join(CLIENTS)}")
    usage, tz = source.usage()
    query = Query(
        by=list(group_by),
        period=_period(period),
        tz=tz,
        clients=[client] if client else [],
        models=[model] if model else [],
    )
    today = today_in(tz)
    rows, totals = aggregate(usage.events, query, today)
    since, until = query.bounds(today)
    return {
        "period": {
            "name": period,
            "since": since and since.isoformat(),
            "until": until and until.isoformat(),
            "tz": tz,
        },
        "by": list(group_by),
        "rows": _rows(with_device_names(rows, usage)),
        "totals": {k: round_cost(v) if k == "cost" else v for k, v in totals.items()},
        "notes": usage.notes,
    }


def _sessions(events: pl.LazyFrame) -> pl.LazyFrame:
    """One row per session (device, client, session id): its figures, first and last turn."""
    import polars as pl

    from tokscope.events import TOTAL_FIELDS
    from tokscope.query import cost_sum

    keys = ["device_id", "client", "session_id"]
    return (
        events.filter(pl.col("session_id").cast(pl.String).fill_null("") != "")
        .group_by(keys)
        .agg(
            workspace=pl.col("workspace").cast(pl.String).sort_by(pl.col("ts")).drop_nulls().last(),
            models=pl.col("model").cast(pl.String).drop_nulls().unique().sort(),
            turns=pl.len(),
            **{c: pl.col(c).sum() for c in ("input", "output", "reasoning", "cache_read")},
            cache_write=(pl.col("cache_write_5m") + pl.col("cache_write_1h")).sum(),
            total_tokens=pl.sum_horizontal(*[pl.col(c) for c in TOTAL_FIELDS]).sum(),
            cost=cost_sum(),
            unpriced_turns=pl.col("cost").is_null().sum(),
            first_turn=pl.col("ts").min(),
            last_turn=pl.col("ts").max(),
        )
        .with_columns(pl.col(c).cast(pl.String) for c in keys)
    )


def session_cost(source: UsageSource, session_id: str | None = None, cwd: str | None = None) -> dict[str, Any]:
    """The figures of one session: by id, else the latest session whose workspace holds ``cwd``."""
    import polars as pl

    usage, _tz = source.usage()
    sessions = _sessions(usage.events)
    if session_id:
        found = sessions.filter(pl.col("session_id") == session_id).sort("last_turn", descending=True).collect()
        if found.is_empty():
            raise _fail(f"no recorded turn of session {session_id!r} (tokscope has not seen it, or it has no usage)")
        matched = "session_id"
    else:
        directory = str(Path(cwd or Path.cwd()).resolve())
        candidates = sessions.filter(pl.col("workspace").fill_null("") != "").collect()
        workspace = pl.col("workspace").str.strip_chars_end("/")
        inside = (workspace == directory) | pl.lit(directory).str.starts_with(workspace + "/")
        found = candidates.filter(inside).sort("last_turn", descending=True)
        if found.is_empty():
            raise _fail(f"no recorded session in {directory} or a folder above it; pass session_id instead")
        matched = "workspace"
    current = found.head(1)
    return {
        "matched_by": matched,
        "session": _rows(current)[0],
        "other_sessions_matched": found.height - 1,
    }


def top_sessions(source: UsageSource, period: str, limit: int) -> dict[str, Any]:
    """The costliest sessions with turns in ``period`` (their figures within the period)."""
    from tokscope.query import Query, filtered, today_in

    if limit < 1:
        raise _fail("limit must be at least 1")
    usage, tz = source.usage()
    events = filtered(usage.events, Query(by=[], period=_period(period), tz=tz), today_in(tz))
    ranked = (
        _sessions(events)
        .sort(["cost", "total_tokens"], descending=True, nulls_last=True)
        .head(min(limit, 100))
        .collect()
    )
    return {"period": period, "tz": tz, "sessions": _rows(ranked), "notes": usage.notes}


def anomalies(source: UsageSource, period: str) -> dict[str, Any]:
    """Anomalies over ``period``, as ``tokscope anomalies --format json``."""
    from tokscope.anomalies import find, findings_json

    usage, tz = source.usage()
    found = find(_period(period), tz, usage)
    return {**findings_json(found, period), "notes": found.notes}


def headroom(source: UsageSource, now: datetime | None = None) -> dict[str, Any]:
    """What is left of each configured budget (``tokscope budgets``) and each official usage limit
    (``tokscope limits``) now."""
    from datetime import UTC

    from tokscope import budgets
    from tokscope.cli.limits import limits_data

    usage, tz = source.usage()
    when = now or datetime.now(UTC)
    statuses, notes, tz = budgets.load(now=now, tz=tz, usage=usage)
    budget_rows = []
    for s in statuses:
        row = budgets.status_json(s)
        limit = s.budget.limit
        row["remaining"] = round(max(0.0, limit - s.spent), 6)
        row["remaining_percent"] = round(max(0.0, 100.0 - s.percent), 2)
        budget_rows.append(row)
    limits = limits_data(now_us=int(when.timestamp() * 1_000_000))["limits"]
    for row in limits:  # a window that reset since it was read is whole again
        row["remaining_percent"] = 100.0 if row["reset"] else round(max(0.0, 100.0 - row["used_percent"]), 2)
    return {"now": iso_utc(when), "tz": tz, "budgets": budget_rows, "limits": limits, "notes": notes}


# --- the server --------------------------------------------------------------------------------------


def build_server(source: UsageSource | None = None) -> MCPServer:
    """The MCP server and its tools (the SDK is imported here)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import ToolAnnotations

    from tokscope import __version__

    source = source or UsageSource()
    server = MCPServer("tokscope", version=__version__, instructions=INSTRUCTIONS)
    read_only = ToolAnnotations(
        read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )

    def tool(fn: Callable[..., dict[str, Any]]) -> None:
        @functools.wraps(fn)
        def answer(*args: Any, **kwargs: Any) -> dict[str, Any]:
            try:
                return fn(*args, **kwargs)
            except ToolError:
                raise
            except Exception as exc:  # the agent gets the cause in one line, not "Error executing tool"
                raise ToolError(f"tokscope could not answer: {type(exc).__name__}: {exc}") from exc

        server.add_tool(answer, annotations=read_only, description=fn.__doc__)

    def get_usage_summary(
        period: str = "today", group_by: list[str] | None = None, client: str | None = None, model: str | None = None
    ) -> dict[str, Any]:
        """Token usage and cost over a period, grouped. period: today, yesterday, 7d, 30d, month or all
        (days in the user's timezone). group_by: any of client, provider, model, workspace, session,
        device, day, hour (default client, model). client / model: keep only that one (e.g. "codex").
        Rows are sorted by cost; "totals" sums them; cost is USD at list prices, null when unpriced."""
        return usage_summary(source, period, group_by if group_by is not None else ["client", "model"], client, model)

    def get_session_cost(session_id: str | None = None, cwd: str | None = None) -> dict[str, Any]:
        """What one agent session has used and cost so far (all of its turns). Give session_id if you
        know it; otherwise pass cwd, your current working directory, and the latest session recorded in
        it or a folder above it is returned (without cwd, this server's own working directory is used,
        which depends on how the client started it). cache_write is tokens written to the prompt
        cache; cost is USD at list prices, null if unpriced."""
        return session_cost(source, session_id, cwd)

    def get_top_sessions(period: str = "7d", limit: int = 10) -> dict[str, Any]:
        """The costliest sessions of a period (today, yesterday, 7d, 30d, month, all), most expensive
        first, with client, workspace, models, turns, tokens and USD cost within the period. limit ≤ 100."""
        return top_sessions(source, period, limit)

    def get_anomalies(period: str = "7d") -> dict[str, Any]:
        """Usage patterns that waste money, each with the turns that prove it: cache_thrash (turns that
        write the prompt cache and never read it), outlier (a device, workspace or session spending far
        above its peers' median per turn or per day), runaway (a burst of turns or a loop of
        near-identical turns), model_switch (a session moved to a much pricier model)."""
        return anomalies(source, period)

    def get_headroom() -> dict[str, Any]:
        """How much the user may still spend before a limit stops or warns them; ask before starting
        costly work. "budgets": each budget the user set in tokscope (USD of list-price cost, or tokens,
        per day, week, month or session, within a scope such as one client): limit, spent, remaining,
        percent, forecast to the period's end, end of the period (when it resets), thresholds crossed,
        over. "limits": the providers' own usage limits per account and window (e.g. Claude or Codex
        five_hour and weekly): used_percent, remaining_percent, resets_at / resets_in_seconds,
        burn_percent_per_hour and runs_out_at when the burn rate predicts running out before the reset;
        age_seconds says how old the reading is (a limit is known only as of its last reading). Empty
        lists mean none is configured or recorded, not unlimited."""
        return headroom(source)

    for fn in (get_usage_summary, get_session_cost, get_top_sessions, get_anomalies, get_headroom):
        tool(fn)
    return server


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``mcp`` to the CLI."""
    p = sub.add_parser("mcp", help="a stdio MCP server agents can ask about their usage and cost")
    p.add_argument("--no-scan", action="store_true", help="answer from the ledger as it is; do not scan for new turns")
    p.set_defaults(func=cmd_mcp)


def cmd_mcp(args: argparse.Namespace) -> int:
    """``tokscope mcp``: serve on stdin/stdout until the client closes it."""
    try:
        server = build_server(UsageSource(scan=not args.no_scan))
    except ImportError as exc:
        print(f"tokscope: the MCP server needs the mcp package ({exc}): pip install 'mcp>=2.3,<3'", file=sys.stderr)
        return 1
    server.run("stdio")
    return 0
