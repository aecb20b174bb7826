"""``tokscope limits``: the official usage limits per account and window (``tokscope.quota``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from tokscope.cli.common import SHARED_METAVAR, print_errors, run_scan, shared_location

#: CSV columns, in order (the JSON row's fields).
CSV_FIELDS = (
    "client",
    "account",
    "limit",
    "window",
    "used_percent",
    "resets_at",
    "resets_in_seconds",
    "reset",
    "observed_at",
    "age_seconds",
    "source",
    "device",
    "device_name",
    "plan_type",
    "credits_balance",
    "burn_percent_per_hour",
    "runs_out_at",
)


def register(subparsers: Any) -> None:
    """Add ``limits`` to the CLI's sub-commands."""
    p = subparsers.add_parser(
        "limits",
        help="official usage limits per account: 5-hour and weekly use, reset countdown, source and age",
    )
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--no-scan", action="store_true", help="do not scan first")
    p.add_argument(
        "--shared",
        type=shared_location,
        metavar=SHARED_METAVAR,
        help="the shared folder (or s3://bucket/prefix) to merge (overrides config and env)",
    )
    p.set_defaults(func=cmd_limits)


def limits_data(shared: Path | None = None, now_us: int | None = None) -> dict[str, Any]:
    """The JSON contract: ``{"now": ISO, "limits": [row, ...]}`` (rows: ``quota.limit_rows``)."""
    from tokscope import config, quota
    from tokscope.accounts import parse_rules
    from tokscope.sync.identity import load_device

    now = now_us if now_us is not None else int(time.time() * 1_000_000)
    device = load_device()
    readings, names = quota.gather(shared)
    names = {device.id: device.name, **names}
    rules, errors = parse_rules(config.load().extra.get("account"), str(config.config_path()))
    for error in errors:
        print(f"tokscope: {error}", file=sys.stderr)
    return {"now": quota.iso(now), "limits": quota.limit_rows(readings, now, device.id, names, rules)}


def cmd_limits(args: argparse.Namespace) -> int:
    """``tokscope limits``."""
    if not args.no_scan:
        print_errors(run_scan())
    data = limits_data(args.shared)
    if args.format == "json":
        import json

        print(json.dumps(data, indent=2))
    elif args.format == "csv":
        from tokscope.cli.common import write_csv

        write_csv(data["limits"], CSV_FIELDS)
    else:
        _table(data["limits"])
    return 0


def _table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from tokscope import quota

    console = Console()
    if not rows:
        console.print(
            "No official limits recorded yet: Codex writes them into its rollouts (a scan reads them), "
            "and Claude Code hands them to `tokscope statusline --claude-code` (README: Limits)."
        )
        return
    from rich import box

    table = Table(title="Official limits", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for name, justify in (
        ("Account", "left"),
        ("Client", "left"),
        ("Window", "left"),
        ("Used", "right"),
        ("Resets in", "right"),
        ("Burn", "right"),
        ("Source, seen", "left"),
        ("Device", "left"),
    ):
        if name == "Account":
            table.add_column(name, min_width=14, overflow="fold")
        else:
            table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for row in rows:
        window = quota.WINDOW_LABELS.get(row["window"], row["window"])
        if row["limit"] and row["limit"] != "codex":
            window = f"{window} ({row['limit']})"
        resets = "reset" if row["reset"] else quota.countdown(row["resets_in_seconds"])
        burn = "—" if row["burn_percent_per_hour"] is None else f"{row['burn_percent_per_hour']:.1f}%/h"
        device = row["device_name"] or (row["device"] or "")[:8]
        table.add_row(
            escape(row["account"]),
            row["client"],
            escape(window),
            f"{row['used_percent']:.0f}%",
            resets,
            burn,
            f"{row['source']} {quota.age(row['age_seconds'])}",
            escape(device),
        )
    console.print(table)
