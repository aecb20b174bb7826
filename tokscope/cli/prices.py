"""``tokscope prices update | show | missing | info``: the price table from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``prices`` command and its sub-commands to the CLI's sub-parsers."""
    p = subparsers.add_parser("prices", help="the price table: update it, explain a model, list unpriced models")
    sub = p.add_subparsers(dest="prices_command", metavar="ACTION", required=True)

    u = sub.add_parser("update", help="rebuild your price table from LiteLLM's price JSON (explicit network use)")
    u.add_argument(
        "--from",
        dest="source",
        metavar="FILE|URL",
        help="a local copy or URL of model_prices_and_context_window.json (default: LiteLLM's upstream file)",
    )
    u.set_defaults(func=cmd_update)

    s = sub.add_parser("show", help="which price row a model name matches, why, and its rates")
    s.add_argument("model", help="model name as logged, e.g. claude-sonnet-4-5-20250929")
    s.add_argument("--provider", help="provider hint as logged (openrouter, bedrock, zai …)")
    s.add_argument("--prices", type=Path, metavar="FILE", help="extra price override file (TOML)")
    s.add_argument("--format", choices=("text", "json"), default="text")
    s.set_defaults(func=cmd_show)

    m = sub.add_parser("missing", help="models in the ledger with no price, with their turns and tokens")
    m.add_argument("--prices", type=Path, metavar="FILE", help="extra price override file (TOML)")
    m.add_argument("--no-scan", action="store_true", help="do not scan first")
    m.add_argument("--format", choices=("table", "json"), default="table")
    m.set_defaults(func=cmd_missing)

    i = sub.add_parser("info", help="where the price table comes from (source, version, date, sha256)")
    i.add_argument("--prices", type=Path, metavar="FILE", help="extra price override file (TOML)")
    i.set_defaults(func=cmd_info)


def _table(extra: Path | None) -> Any:
    from tokscope.pricing import load_table, user_overrides_path

    if extra is not None and not extra.exists():
        raise SystemExit(f"tokscope: price file not found: {extra}")
    return load_table([user_overrides_path(), extra])


def _warn(table: Any) -> None:
    for w in table.warnings:
        print(f"tokscope: warning: {w}", file=sys.stderr)


def cmd_update(args: argparse.Namespace) -> int:
    """``tokscope prices update [--from FILE|URL]``."""
    from tokscope.fsutil import atomic_write
    from tokscope.pricing import user_table_path
    from tokscope.pricing.build import UPSTREAM_URL, build_from, dump_table

    source = args.source or UPSTREAM_URL
    try:
        table = build_from(source)
    except (OSError, ValueError) as exc:
        print(f"tokscope: cannot build the price table from {source}: {exc}", file=sys.stderr)
        return 1
    if len(table["models"]) < 50:
        print(f"tokscope: {source} holds only {len(table['models'])} priced models; not used", file=sys.stderr)
        return 1
    path = user_table_path()
    atomic_write(path, dump_table(table))
    meta = table["_meta"]
    print(f"{path}: {len(table['models']):,} models from {meta['source']} (sha256 {meta['sha256'][:12]})")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """``tokscope prices show MODEL``."""
    from tokscope.pricing import PriceFileError, explain

    try:
        table = _table(args.prices)
        res = table.resolve(args.model, args.provider)
    except PriceFileError as exc:
        print(f"tokscope: {exc}", file=sys.stderr)
        return 2
    _warn(table)
    if args.format == "json":
        e = res.entry
        data: dict[str, Any] = {"model": res.model, "provider": res.provider, "match": res.kind, "detail": res.detail}
        if e is not None:
            data |= {
                "key": e.key,
                "origin": e.origin,
                "row_provider": e.provider,
                "litellm_key": e.litellm_key,
                "per_million": [
                    {
                        "from": v.start.date().isoformat() if v.start else None,
                        "base": [r * 1e6 for r in v.std.base],
                        "tiers": [{"above": a, "rates": [r * 1e6 for r in t]} for a, t in v.std.tiers],
                        "priority": [r * 1e6 for r in v.priority.base] if v.priority else None,
                    }
                    for v in e.versions
                ],
                "bucket_order": ["input", "output", "cache_read", "cache_write_5m", "cache_write_1h"],
                "fast_multiplier": e.fast,
                "sources": list(e.sources),
            }
        print(json.dumps(data, indent=2))
    else:
        print("\n".join(explain(res)))
        print(f"table     {table.path} ({table.basis})")
    return 0


def missing_models(events: Any) -> list[dict[str, Any]]:
    """Unpriced ``(provider, model)`` pairs of priced events, most tokens first."""
    import polars as pl

    from tokscope.events import total_tokens_expr

    frame = (
        events.filter(pl.col("price_state") != "priced")
        .group_by(pl.col("provider").cast(pl.String), pl.col("model").cast(pl.String))
        .agg(
            turns=pl.len(),
            tokens=total_tokens_expr().sum(),
            source_cost_turns=(pl.col("price_state") == "source").sum(),
            clients=pl.col("client").cast(pl.String).unique().sort(),
        )
        .sort(["tokens", "turns", "model"], descending=[True, True, False])
        .collect()
    )
    return frame.to_dicts()


def cmd_missing(args: argparse.Namespace) -> int:
    """``tokscope prices missing``: ledger models with no list price."""
    from tokscope import config as config_mod
    from tokscope.format import short, tokens
    from tokscope.pricing import PriceFileError
    from tokscope.usage import load_usage

    if args.prices is not None and not args.prices.exists():
        print(f"tokscope: price file not found: {args.prices}", file=sys.stderr)
        return 2
    if not args.no_scan:
        from tokscope.cli.common import print_errors, run_scan

        print_errors(run_scan())
    try:
        usage = load_usage(config_mod.load(), prices=args.prices)
        rows = missing_models(usage.events)
    except PriceFileError as exc:
        print(f"tokscope: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("Every model in the ledger has a price.")
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Models without a list price", title_justify="left")
    for name, justify in (("Provider", "left"), ("Model", "left"), ("Clients", "left"), ("Turns", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("Tokens", justify="right")
    table.add_column("Logged cost", justify="right")
    for r in rows:
        table.add_row(
            r["provider"] or "",
            r["model"] or "(none)",
            ", ".join(r["clients"]),
            tokens(r["turns"]),
            short(r["tokens"]),
            f"{r['source_cost_turns']:,} turns" if r["source_cost_turns"] else "",
        )
    console = Console()
    console.print(table)
    console.print(
        "Add a price in [bold]prices.toml[/bold] (USD per million tokens), e.g.\n"
        + escape('  [[price]]\n  model = "my-model*"\n  input = 1.0\n  output = 5.0\n')
        + 'or map it to a known model with [bold]alias = "claude-sonnet-4-5"[/bold]. '
        "[bold]tokscope prices show MODEL[/bold] explains a match."
    )
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """``tokscope prices info``."""
    from tokscope.pricing import PriceFileError, user_overrides_path

    try:
        table = _table(args.prices)
    except PriceFileError as exc:
        print(f"tokscope: {exc}", file=sys.stderr)
        return 2
    _warn(table)
    meta = table.meta
    print(f"table      {table.path}")
    print(f"source     {meta.get('source')}")
    print(f"version    {meta.get('litellm_version') or '?'}   built {meta.get('built_at')}")
    print(f"sha256     {meta.get('sha256')}")
    print(f"basis      {table.basis}")
    print(f"models     {len(table.models):,} (+{len(table.aliases):,} aliases)")
    files = sorted({o.file for o in table.overrides})
    print(f"overrides  {', '.join(files) if files else f'none ({user_overrides_path()} not found)'}")
    return 0
