"""``tokscope invoices`` (list, ``import FILE``) and ``tokscope reconcile --month YYYY-MM``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tokscope.cli.common import print_errors, run_scan

#: ``reconcile --format csv`` columns, in order (the JSON row's fields but ``names``).
CSV_FIELDS = (
    "provider",
    "day",
    "model",
    "side",
    "basis",
    "estimate",
    "invoiced",
    "gap_usd",
    "gap_pct",
    "flagged",
    "turns",
    "unpriced_turns",
    "estimate_tokens",
    "invoiced_tokens",
)


def _threshold(value: str) -> float:
    try:
        pct = float(value.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a percentage (e.g. 3 or 2.5)") from None
    if not 0 <= pct < 1e6:
        raise argparse.ArgumentTypeError(f"{value!r}: a percentage from 0 up")
    return pct


def _month(value: str) -> str:
    from tokscope.reconcile import month_bounds

    try:
        month_bounds(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--month ")) from None
    return value


def register(subparsers: Any) -> None:
    """Add ``invoices`` (with ``import``) and ``reconcile`` to the CLI's sub-commands."""
    p = subparsers.add_parser(
        "invoices",
        help="the providers' own usage and cost exports: import one, list what is imported",
        description="Without a sub-command: every imported export (file, format, days, rows).",
    )
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_invoices)
    isub = p.add_subparsers(dest="invoices_command", metavar="SUBCOMMAND")
    s = isub.add_parser(
        "import",
        help="import an Anthropic or OpenAI usage/cost export (Admin API JSON or console CSV)",
    )
    s.add_argument("file", type=Path, metavar="FILE")
    s.set_defaults(func=cmd_import)

    p = subparsers.add_parser(
        "reconcile", help="tokscope's estimate against the imported invoices, per provider, day and model"
    )
    p.add_argument("--month", type=_month, required=True, metavar="YYYY-MM")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument(
        "--threshold",
        type=_threshold,
        default=None,
        metavar="PCT",
        help="flag rows whose gap is more than PCT percent of the invoice (default 3; [reconcile] threshold)",
    )
    p.add_argument("--client", default="", help="only these clients' turns in the estimate (comma list)")
    p.add_argument("--check", action="store_true", help="exit 1 when a row is flagged")
    p.add_argument("--no-scan", action="store_true", help="reconcile the ledger as it is, without scanning")
    p.add_argument("--prices", type=Path, metavar="FILE", help="price overrides (TOML, USD per million tokens)")
    p.add_argument("--shared", type=Path, metavar="DIR", help="the shared folder to merge (overrides config and env)")
    p.set_defaults(func=cmd_reconcile)


def _fail(message: str) -> int:
    print(f"tokscope: {message}", file=sys.stderr)
    return 1


def cmd_import(args: argparse.Namespace) -> int:
    """``tokscope invoices import FILE``."""
    from tokscope import invoices

    try:
        record, new = invoices.import_file(args.file)
    except (invoices.InvoiceError, invoices.StoreError) as exc:
        return _fail(f"{exc}; nothing imported")
    for note in record.notes:
        print(f"tokscope: note: {args.file}: {note}", file=sys.stderr)
    if record.skipped:
        print(f"tokscope: warning: {args.file}: {record.skipped} unreadable rows left out", file=sys.stderr)
    if not new:
        print(f"{args.file}: already imported ({record.format}, {record.imported_at}): nothing changed")
        return 0
    days = record.first_day if record.first_day == record.last_day else f"{record.first_day} … {record.last_day}"
    print(f"imported {args.file}: {record.format}, {record.rows} row{'s' if record.rows != 1 else ''}, {days}")
    return 0


def cmd_invoices(args: argparse.Namespace) -> int:
    """``tokscope invoices``: what is imported."""
    from tokscope import invoices

    try:
        records = invoices.imports()
    except invoices.StoreError as exc:
        return _fail(str(exc))
    if args.format == "json":
        import msgspec

        print(msgspec.json.encode({"imports": records}).decode())
        return 0
    if not records:
        print("No invoices imported yet: tokscope invoices import FILE (README: Invoices)")
        return 0
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Imported invoices", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("File", "Format", "Days", "Rows", "Imported", "Digest"):
        table.add_column(name, overflow="fold" if name == "File" else None, no_wrap=name != "File")
    for r in records:
        days = r.first_day if r.first_day == r.last_day else f"{r.first_day} … {r.last_day}"
        table.add_row(escape(r.path), r.format, days or "", f"{r.rows:,}", r.imported_at, r.digest[:12])
    Console().print(table)
    return 0


def reconcile_data(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """The JSON contract of ``tokscope reconcile`` and its footnotes."""
    from tokscope import config as config_mod
    from tokscope import invoices, reconcile
    from tokscope.pricing import PriceFileError, load_table, user_overrides_path
    from tokscope.usage import load_usage

    settings = config_mod.load()
    threshold, problems = reconcile.configured_threshold(settings.extra, str(config_mod.config_path()))
    if args.threshold is not None:
        threshold = args.threshold
    rows = invoices.effective_rows()
    usage = load_usage(settings, prices=args.prices, shared=args.shared)
    try:
        table = load_table([user_overrides_path(), args.prices])
    except (PriceFileError, OSError):
        table = load_table([])
    clients = [c.strip() for c in args.client.split(",") if c.strip()]
    lines = reconcile.reconcile(usage.events, rows, args.month, table, threshold, clients)
    notes = [*problems, *usage.notes]
    if not any(r.day.startswith(args.month) for r in rows):
        notes.append(f"no imported invoice covers {args.month}: tokscope invoices import FILE")
    data = {
        "month": args.month,
        "threshold_pct": threshold,
        "rows": [reconcile.line_dict(x) for x in lines],
        "providers": reconcile.summary(lines),
        "flagged": sum(x.flagged for x in lines),
        "one_sided": sum(x.side != "both" for x in lines),
    }
    return data, notes


def cmd_reconcile(args: argparse.Namespace) -> int:
    """``tokscope reconcile``."""
    from tokscope import invoices

    if not args.no_scan:
        print_errors(run_scan())
    try:
        data, notes = reconcile_data(args)
    except invoices.StoreError as exc:
        return _fail(str(exc))
    if args.format == "json":
        import json

        print(json.dumps(data, indent=2))
    elif args.format == "csv":
        from tokscope.cli.common import write_csv

        write_csv(data["rows"], CSV_FIELDS)
    else:
        _table(data)
    for note in notes:
        print(f"tokscope: {note}", file=sys.stderr)
    return 1 if args.check and data["flagged"] else 0


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1f}%"


def _table(data: dict[str, Any]) -> None:
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from tokscope.format import money

    console = Console()
    if not data["rows"]:
        console.print(f"Nothing to reconcile for {data['month']}.")
        return
    table = Table(
        title=f"Estimate vs invoice · {data['month']} · threshold {data['threshold_pct']:g}%",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for name, justify in (
        ("Provider", "left"),
        ("Day", "left"),
        ("Model", "left"),
        ("Estimate", "right"),
        ("Invoiced", "right"),
        ("Gap", "right"),
        ("Gap %", "right"),
        ("", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for r in data["rows"]:
        if r["flagged"]:
            mark = "[bold red]ALERT[/]"
        elif r["side"] == "estimate_only":
            mark = "[yellow]not invoiced[/]"
        elif r["side"] == "invoice_only":
            mark = "[yellow]not in tokscope[/]"
        else:
            mark = "" if r["basis"] == "billed" else "[dim]tokens priced[/]"
        gap = "—" if r["gap_usd"] is None else f"{'+' if r['gap_usd'] >= 0 else '-'}{money(abs(r['gap_usd']))}"
        table.add_row(
            r["provider"],
            r["day"],
            escape(r["model"]),
            money(r["estimate"], r["unpriced_turns"]),
            money(r["invoiced"]),
            gap,
            _pct(r["gap_pct"]),
            mark,
        )
    console.print(table)
    for p in data["providers"]:
        console.print(
            f"{p['provider']}: estimate {money(p['estimate'])} · invoiced {money(p['invoiced'])} · "
            f"gap {_pct(p['gap_pct'])} · {p['flagged']} flagged · {p['one_sided']} on one side only"
        )
