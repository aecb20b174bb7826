"""The headless CLI: ``tokscope scan | sources | report | …`` (no sub-command: the TUI)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokscope import __version__
from tokscope.cli.common import SHARED_METAVAR, print_errors, run_scan, shared_location

if TYPE_CHECKING:
    from datetime import date

FORMATS = ("table", "json", "csv")


def _json(value: Any, indent: int | None = None) -> str:
    """``value`` as JSON (the module imported only by the commands that print it)."""
    import json

    return json.dumps(value, indent=indent)


def _date(text: str) -> date:
    from datetime import date  # here: a rescan or statusline needs no dates

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def _keys(text: str) -> list[str]:
    from tokscope.query import GROUP_KEYS

    keys = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in keys if k not in GROUP_KEYS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown key {', '.join(bad)} (use {', '.join(GROUP_KEYS)})")
    return keys


def _tz(text: str) -> str:
    from tokscope.timezone import valid_tz

    if not valid_tz(text):
        raise argparse.ArgumentTypeError(f"unknown IANA timezone {text!r} (e.g. Europe/Berlin, UTC)")
    return text


def _csv_list(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout, sized from ``COLUMNS`` or the terminal without importing ``shutil``
    (argparse imports it for every parser it builds: ~3 ms of each statusline, rescan and guard)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None):
        if width is None:
            width = _columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


def _columns() -> int:
    """``shutil.get_terminal_size().columns``: ``COLUMNS``, else the terminal's, else 80."""
    import os

    try:
        return int(os.environ["COLUMNS"]) or 80
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


class _Parser(argparse.ArgumentParser):
    """The CLI's parsers (the top one and each sub-command's), laid out by ``_Formatter``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


def _top_parser() -> tuple[argparse.ArgumentParser, Any]:
    """The top-level parser and its sub-command group, with no sub-command yet."""
    parser = _Parser(
        prog="tokscope",
        description="Where the tokens and dollars of your AI coding agents went. "
        "Without a command: the live terminal UI.",
    )
    parser.add_argument("--version", action="version", version=f"tokscope {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an unexpected error")
    return parser, parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)


def _add_statusline(sub: Any) -> None:
    p = sub.add_parser("statusline", help="one short line of usage, for tmux or an agent's status line")
    p.add_argument("--period", choices=("today", "yesterday", "7d", "30d", "month", "all"), default="today")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--no-scan", action="store_true", help="do not scan first")
    p.add_argument(
        "--claude-code",
        action="store_true",
        help="be Claude Code's statusLine command: read its JSON on stdin, record its rate limits, "
        "print session cost, today, 5-hour and weekly use",
    )
    p.set_defaults(func=cmd_statusline, by=[], since=None, until=None, tz=None, client=[], model=[], device=[])
    p.set_defaults(prices=None, shared=None)


def _add_scan(sub: Any) -> None:
    p = sub.add_parser("scan", help="read new agent logs into the local ledger")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    p.set_defaults(func=cmd_scan)


def _add_guard(sub: Any) -> None:
    from tokscope.guard import register

    register(sub)


def hot_parser(command: str) -> argparse.ArgumentParser | None:
    """A parser of ``command`` alone if it is one that runs many times a minute (a status bar, a
    shell prompt, an agent hook: ``guard``), where building every sub-command's parser costs more than the
    answer; else None."""
    add = {"statusline": _add_statusline, "scan": _add_scan, "guard": _add_guard}.get(command)
    if add is None:
        return None
    parser, sub = _top_parser()
    add(sub)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser, sub = _top_parser()
    _add_scan(sub)

    p = sub.add_parser("sources", help="where each reader looks, files and events found")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--no-scan", action="store_true", help="do not scan first")
    p.set_defaults(func=cmd_sources)

    p = sub.add_parser("report", help="usage grouped by client, model, workspace, day …")
    p.add_argument(
        "--by",
        type=_keys,
        default=["client", "model"],
        help="comma list of: client, provider, model, workspace, session, device, account, day, hour "
        "(default client,model)",
    )
    p.add_argument("--period", choices=("today", "yesterday", "7d", "30d", "month", "all"), default="30d")
    p.add_argument("--since", type=_date, help="first day, YYYY-MM-DD (overrides the period's)")
    p.add_argument("--until", type=_date, help="last day, YYYY-MM-DD (overrides the period's)")
    p.add_argument("--tz", type=_tz, help="IANA timezone for day buckets (default: local)")
    p.add_argument("--client", type=_csv_list, default=[], help="only these clients (comma list)")
    p.add_argument("--model", type=_csv_list, default=[], help="only these models (comma list)")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--no-scan", action="store_true", help="report the ledger as it is, without scanning")
    p.add_argument("--prices", type=Path, metavar="FILE", help="price overrides (TOML, USD per million tokens)")
    p.add_argument("--device", type=_csv_list, default=[], help="only these devices: ids or names (comma list)")
    p.add_argument(
        "--shared",
        type=shared_location,
        metavar=SHARED_METAVAR,
        help="the shared folder (or s3://bucket/prefix) to merge (overrides config and env)",
    )
    p.add_argument(
        "--energy",
        action="store_true",
        help="add an energy estimate (Wh, an order of magnitude; also: energy = true in config.toml)",
    )
    p.set_defaults(func=cmd_report)

    _add_statusline(sub)

    from tokscope.cli.prices import register as register_prices

    register_prices(sub)

    from tokscope.cli.devices import register as register_devices

    register_devices(sub)

    from tokscope.cli.limits import register as register_limits

    register_limits(sub)

    from tokscope.cli.invoices import register as register_invoices

    register_invoices(sub)

    p = sub.add_parser("doctor", help="what needs a look: the ledger's health, values left out and why")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--no-scan", action="store_true", help="do not scan first")
    p.add_argument("--repair", action="store_true", help="set damaged ledger files aside and re-read the sources")
    p.set_defaults(func=cmd_doctor)

    from tokscope.tui.serve import register as register_serve

    register_serve(sub)

    from tokscope.cli.completion import register as register_completion

    register_completion(sub)
    from tokscope.anomalies import register as register_anomalies

    register_anomalies(sub)
    from tokscope.mcp_server import register as register_mcp

    register_mcp(sub)
    from tokscope.budgets import register as register_budgets

    register_budgets(sub)
    from tokscope.alerts import register as register_alerts

    register_alerts(sub)
    _add_guard(sub)

    p = sub.add_parser(
        "demo", help="the TUI on generated demo data (a temporary directory; nothing of yours is touched)"
    )
    p.add_argument("--interval", type=float, default=3.0, help="seconds between generated live turns (default 3)")
    p.set_defaults(func=cmd_demo)
    return parser


def run_tui() -> int:
    """``tokscope`` without a command: the TUI (on a terminal; piped or redirected, the report instead)."""
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        print("tokscope: not a terminal, so no TUI: here is `tokscope report` (tokscope --help)", file=sys.stderr)
        return main(["report"])
    from tokscope.tui.loading import start_prefetch

    start_prefetch()  # read the ledger while Textual is imported and the screen is built
    from tokscope.tui.app import run_app

    return run_app()


def cmd_demo(args: argparse.Namespace) -> int:
    """``tokscope demo``."""
    from tokscope.demo import run_demo

    return run_demo(interval=args.interval)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status. No command prints a traceback unless ``--debug``
    (or ``TOKSCOPE_DEBUG=1``) asks for it: an unexpected error is one line naming what failed."""
    import os

    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv or os.environ.get("TOKSCOPE_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    try:
        if not argv:  # the TUI: start before building the parser (its first paint waits on the ledger)
            return run_tui()
        parser = hot_parser(argv[0]) or build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            return run_tui()
        _print_config_errors()
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from tokscope.ledger import disk_full

        if disk_full(exc):  # wherever the write was (Polars wraps the OS error in its own)
            filename = getattr(exc, "filename", None)
            where = f" for {filename}" if filename else ""
            print(
                f"tokscope: error: no space left on device{where}; nothing new was recorded (free some space "
                "and run it again)",
                file=sys.stderr,
            )
            return 1
        if debug:
            raise
        where = f" in `tokscope {argv[0]}`" if argv else ""
        print(f"tokscope: error{where}: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("tokscope: run again with --debug for the details (and please report it)", file=sys.stderr)
        return 1


def _print_config_errors() -> None:
    """Say what is wrong in config.toml or the environment (the command goes on with the defaults)."""
    from tokscope import config as config_mod

    for problem in config_mod.load().errors:
        print(f"tokscope: config: {problem}", file=sys.stderr)


# --- scan ------------------------------------------------------------------


def _events(summary: Any) -> str:
    """``77,826 events (1 new)``; after a journaled rescan, the rows it recorded instead (their keys
    are looked up by the next command that loads the ledger)."""
    if summary.events is None or summary.new_events is None:
        return "new rows recorded (the event count follows at the next report)"
    return f"{summary.events:,} events ({summary.new_events:,} new)"


def cmd_scan(args: argparse.Namespace) -> int:
    """``tokscope scan``."""
    import time

    start = time.perf_counter()
    summary = run_scan(quiet=args.quiet)
    elapsed = time.perf_counter() - start
    print_errors(summary)
    if not args.quiet:
        print(
            f"{summary.files:,} files ({summary.read:,} read, {summary.bytes_read / 1e6:,.1f} MB), "
            f"{_events(summary)}, "
            f"{summary.skipped:,} lines skipped{' (tokscope doctor says why)' if summary.skipped else ''}, "
            f"in {elapsed:.2f}s"
        )
    return 0


# --- doctor ----------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace) -> int:
    """``tokscope doctor``: exit 0 when nothing needs the user, 1 when something does."""
    from tokscope import doctor

    if args.repair:
        done = doctor.repair()
        for path in done.quarantined:
            print(f"tokscope: moved aside {path}", file=sys.stderr)
        if done.rescanned:
            print(f"tokscope: re-read every source: {done.recovered:,} events recovered", file=sys.stderr)
    summary = None
    if not args.repair and not args.no_scan:
        summary = run_scan()
        print_errors(summary)
    data = doctor.report(summary=summary)
    if args.format == "json":
        print(_json(data, indent=2))
    else:
        print("\n".join(doctor.render(data)))
    return 1 if data["status"] == "error" else 0


# --- sources ---------------------------------------------------------------


def cmd_sources(args: argparse.Namespace) -> int:
    """``tokscope sources``."""
    from tokscope import config as config_mod
    from tokscope.readers import choose_readers
    from tokscope.sources import source_entries

    summary = None
    if not args.no_scan:
        summary = run_scan()
        print_errors(summary)
    entries = source_entries(summary, choose_readers(config_mod.load().readers).readers)
    if args.format == "json":
        print(_json(entries, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Sources", title_justify="left")
    for name, justify in (
        ("Client", "left"),
        ("Paths", "left"),
        ("Files", "right"),
        ("Events", "right"),
        ("Fidelity", "left"),
        ("Notes", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for e in entries:
        paths = "\n".join(e["paths"]) or f"[dim]none of: {', '.join(e['searched'])}[/dim]"
        fidelity = e["fidelity"].replace("_", " ")
        notes = "\n".join(e["errors"][:3])
        table.add_row(e["client"], paths, f"{e['files']:,}", f"{e['events']:,}", fidelity, notes)
    Console().print(table)
    return 0


# --- report ----------------------------------------------------------------


def report_data(args: argparse.Namespace, usage: Any = None) -> tuple[dict[str, Any], list[str]]:
    """The report as the JSON contract's dict (rows as dicts), and its footnotes (of ``usage`` when
    given, else of the merged usage loaded here)."""
    import polars as pl

    from tokscope import config as config_mod
    from tokscope.format import COST_DECIMALS, round_cost
    from tokscope.query import KIND_COUNTERS, Query, aggregate, plan_values, today_in
    from tokscope.timezone import local_tz
    from tokscope.usage import load_usage

    settings = config_mod.load()
    tz = args.tz or settings.timezone or local_tz()
    query = Query(
        by=args.by,
        period=args.period,
        since=args.since,
        until=args.until,
        tz=tz,
        clients=args.client,
        models=args.model,
    )
    today = today_in(tz)
    if usage is None:
        usage = load_usage(settings, prices=getattr(args, "prices", None), shared=getattr(args, "shared", None))
    from tokscope.cli.devices import device_filter, with_device_names

    query.devices = device_filter(getattr(args, "device", []), usage)
    if getattr(args, "energy", False) or settings.extra.get("energy") is True:
        from tokscope.energy import with_energy

        usage.events = with_energy(usage.events)
    rows, totals = aggregate(usage.events, query, today)
    rows = with_device_names(rows, usage)
    notes = list(usage.notes)
    if "device" in query.by:
        notes.extend(duplicate_notes(usage))
    if rows.is_empty():
        notes.append(empty_hint(usage.events, query, today))
    money_keys = ["cost", *KIND_COUNTERS[:-1]]
    rows = rows.with_columns(pl.col(c).round(COST_DECIMALS) for c in money_keys if c in rows.columns)
    totals = {k: round_cost(v) if k in money_keys else v for k, v in totals.items()}
    since, until = query.bounds(today)
    return {
        "period": {
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "tz": tz,
        },
        "by": list(query.by),
        "rows": rows.to_dicts(),
        "totals": totals,
        "plans": plan_values(usage.events, usage.plans, query, today),
    }, notes


def duplicate_notes(usage: Any) -> list[str]:
    """A footnote for each merged device left out of a ``--by device`` report because all its turns
    are also on another device (counted once, there)."""
    import polars as pl

    from tokscope.sync.merge import MERGED
    from tokscope.usage import duplicate_reasons

    merged = {d.id: d.rows for d in usage.devices if d.status == MERGED}
    if not any(merged.values()):
        return []
    present = set(usage.events.select(pl.col("device_id").cast(pl.String).unique()).collect().to_series().to_list())
    names = usage.device_names()
    reasons = duplicate_reasons(usage.device.id, merged, present, names)
    return [f"device {names.get(d, d)}: no turns of its own here: {why}" for d, why in reasons.items()]


def report_args_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the report's filters before anything is read (None: nothing)."""
    import difflib

    from tokscope.events import CLIENTS

    if args.since and args.until and args.since > args.until:
        return f"--since {args.since} is after --until {args.until}"
    for name in args.client:
        if name not in CLIENTS:
            close = difflib.get_close_matches(name, CLIENTS, n=1, cutoff=0.5)
            prefix = [c for c in CLIENTS if c.startswith(name)]
            guess = (prefix or close or [None])[0]
            hint = f"did you mean {guess!r}? " if guess else ""
            return f"no client {name!r}: {hint}(known: {', '.join(CLIENTS)})"
    return None


def empty_hint(events: Any, query: Any, today: date) -> str:
    """Why a report came out empty, and what to try: the latest turn that the other filters keep."""
    from dataclasses import replace

    import polars as pl

    from tokscope.query import filtered

    anytime = replace(query, period="all", since=None, until=None)
    latest = filtered(events, anytime, today).select(pl.col("day").max()).collect().item()
    if latest is None:
        if query.models:
            return f"no turn of model {', '.join(query.models)} with these filters (--by model lists the models)"
        return "no usage recorded with these filters: tokscope sources shows where tokscope looks"
    return f"no usage in this period: the latest turn is {latest} — try --period all or --since {latest}"


def cmd_report(args: argparse.Namespace) -> int:
    """``tokscope report``."""
    problem = report_args_problem(args)
    if problem:
        print(f"tokscope: {problem}", file=sys.stderr)
        return 2
    if not args.no_scan:
        summary = run_scan()
        print_errors(summary)
    else:  # the scan names the ledger's damaged files; without one, say it here
        from tokscope.doctor import warnings
        from tokscope.ledger import Ledger

        for message in warnings(Ledger()):
            print(f"tokscope: warning: {message}", file=sys.stderr)
    data, notes = report_data(args)
    for note in notes:
        print(f"tokscope: {note}", file=sys.stderr)
    if args.format == "json":
        print(_json(data, indent=2))
    elif args.format == "csv":
        sys.stdout.write(_csv(data))
    else:
        _print_table(data)
    return 0


def cmd_statusline(args: argparse.Namespace) -> int:
    """``tokscope statusline``: e.g. ``today $4.56 · 12.3M tok · 87 turns``.

    Answers from the statusline summary when nothing it depends on changed since it was
    computed (no Polars, no ledger load); otherwise computes the report and stores it.
    """
    if getattr(args, "claude_code", False):
        return _claude_statusline(args)
    totals = _statusline_totals(args)
    if args.format == "json":
        print(_json({"period": args.period, **totals}))
        return 0
    from tokscope.format import money, short

    cost = money(totals["cost"], totals["unpriced_turns"] or 0) if totals["turns"] else "$0.00"
    print(f"{args.period} {cost} · {short(totals['total_tokens'])} tok · {totals['turns']:,} turns")
    return 0


def _statusline_totals(args: argparse.Namespace) -> dict[str, Any]:
    """The period's totals: from the statusline summary when nothing changed, else computed and stored."""
    from tokscope import config as config_mod
    from tokscope import statusline
    from tokscope.timezone import local_tz

    if not args.no_scan:
        run_scan(check_ledger=False)  # its errors are not shown: one line only, and fast
    settings = config_mod.load()
    tz = args.tz or settings.timezone or local_tz()
    import os

    # the system's zone, as the C library's local time also has it (no POSIX TZ string of its own)
    local = not (args.tz or settings.timezone) and os.environ.get("TZ", "").lstrip(":") in ("", tz)
    key = statusline.key_of(args.period, tz, local=local)
    totals = statusline.cached(key, statusline.fingerprint(settings.shared_folder))
    if totals is None:
        from tokscope.usage import load_usage

        mark = statusline.ledger_mark()
        usage = load_usage(settings)
        data, _notes = report_data(args, usage)
        totals = {k: data["totals"][k] for k in ("turns", "total_tokens", "cost", "unpriced_turns")}
        statusline.store(key, mark, totals, settings.shared_folder)
        if settings.extra.get("budget"):  # keep the figures `tokscope guard` decides from current
            from tokscope import budgets

            budgets.load(usage=usage, ledger_mark=mark)
    return totals


def _claude_statusline(args: argparse.Namespace) -> int:
    """``tokscope statusline --claude-code``: e.g. ``session $0.42 · today $4.56 · 5h 42% ↻2h13m · wk 17% ↻3d4h``.

    Whatever stdin holds (nothing, junk, a partial object), a line is printed and the exit is 0:
    Claude Code shows the command's output as it is."""
    import contextlib
    import time

    from tokscope import claude_statusline as claude
    from tokscope.format import money

    now_us = int(time.time() * 1_000_000)
    raw = b""
    if not sys.stdin.isatty():
        try:
            raw = sys.stdin.buffer.read(claude.MAX_INPUT)
        except (OSError, ValueError):
            raw = b""
    status = claude.parse(raw)
    try:
        claude.record(status, now_us)
    except Exception as exc:  # a reading not kept must not cost the line
        print(f"tokscope: quota not recorded: {type(exc).__name__}: {exc}", file=sys.stderr)
    parts = []
    if status.session_cost is not None:
        parts.append(f"session {money(status.session_cost)}")
    args.period = "today"
    try:
        totals = _statusline_totals(args)
        parts.append(f"today {money(totals['cost'], totals['unpriced_turns'] or 0) if totals['turns'] else '$0.00'}")
    except Exception:
        parts.append("today —")
    with contextlib.suppress(Exception):  # a damaged store: the line without the limits
        parts.extend(claude.limit_parts(status, now_us))
    if args.format == "json":
        print(_json({"parts": parts}))
    else:
        print(" · ".join(parts))
    return 0


def _csv(data: dict[str, Any]) -> str:
    import csv
    import io

    from tokscope.query import COUNTERS, ENERGY_COUNTERS

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    keys = [c for k in data["by"] for c in ((k, "device_name") if k == "device" else (k,))]
    counters = [*COUNTERS, *(c for c in ENERGY_COUNTERS if c in data["totals"])]
    writer.writerow([*keys, *counters])
    for row in data["rows"]:
        writer.writerow([row.get(k) if row.get(k) is not None else "" for k in [*keys, *counters]])
    return out.getvalue()


def paid_text(row: dict[str, Any]) -> str:
    """What a report row paid per token: metered, plus estimated amounts marked ``≈``."""
    from tokscope.format import money

    metered, estimated = row.get("metered") or 0.0, row.get("estimated") or 0.0
    text = money(metered + estimated)
    return f"≈ {text}" if estimated else text


def plan_line(plan: dict[str, Any]) -> str:
    """``Claude Max 20x: $200.00 paid, $1,430.00 at API prices, 7.2×`` (a plan's value over the period)."""
    from tokscope.format import money

    ratio = f", {plan['value_ratio']:.1f}×" if plan.get("value_ratio") is not None else ""
    return f"{plan['name']}: {money(plan['paid'])} paid, {money(plan['api_equivalent'])} at API prices{ratio}"


#: Numeric report columns, most important first; narrow terminals drop from the end.
_TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Total", "total_tokens"),
    ("Turns", "turns"),
    ("Output", "output"),
    ("Cache read", "cache_read"),
    ("Input", "input"),
    ("Cache write", "cache_write"),
    ("Reasoning", "reasoning"),
)
_DISPLAY_ORDER = tuple(_TABLE_COLUMNS[i] for i in (1, 4, 2, 6, 3, 5, 0))


def _print_table(data: dict[str, Any]) -> None:
    """The report as a Rich table that fits the terminal (columns dropped by priority)."""
    from rich.console import Console
    from rich.table import Table

    from tokscope.format import money, money_total, short, tokens

    console = Console()
    period = data["period"]
    span = f"{period['since'] or 'the beginning'} – {period['until'] or 'now'}"
    totals = dict(data["totals"])
    rows = [dict(r) for r in data["rows"]]
    for row in [*rows, totals]:
        row["cache_write"] = (row["cache_write_5m"] or 0) + (row["cache_write_1h"] or 0)
    from rich.markup import escape

    key_cells = [  # device names, models, workspaces come from logs and other devices: never markup
        [
            escape(f"{row['device_name']} ({row[k][:8]})" if k == "device" and row.get("device_name") else str(row[k]))
            for k in data["by"]
        ]
        for row in rows
    ]
    key_widths = [max([len(k), 5, *(min(len(c[i]), 48) for c in key_cells)]) for i, k in enumerate(data["by"])]
    cost_cells = [money(r["cost"], r["unpriced_turns"] or 0) for r in rows]
    cost_total = money_total(totals["cost"], totals["unpriced_turns"] or 0)
    cost_width = max([10, len(cost_total), *map(len, cost_cells)])
    paid_cells = [paid_text(r) for r in [*rows, totals]]
    cost_width += max([4, *map(len, paid_cells)]) + 3

    def width(columns: list[tuple[str, str]], fmt: Any) -> int:
        numbers = sum(max(len(label), *(len(fmt(r[k])) for r in [*rows, totals])) + 3 for label, k in columns)
        return sum(w + 3 for w in key_widths) + numbers + cost_width + 4

    columns = list(_TABLE_COLUMNS)
    fmt = tokens
    while width(columns, fmt) > console.width:
        if fmt is tokens and len(columns) <= 5:
            fmt = short  # abbreviate before dropping the core columns
        elif len(columns) > 2:
            columns.pop()
        else:
            break
    order = [c for c in _DISPLAY_ORDER if c in columns]

    table = Table(title=f"Usage {span} ({period['tz']})", title_justify="left", show_footer=True)
    for i, key in enumerate(data["by"]):
        table.add_column(key.capitalize(), footer="Total" if i == 0 else "", overflow="ellipsis", max_width=48)
    for label, key in order:
        table.add_column(label, justify="right", footer=fmt(totals[key]), no_wrap=True)
    table.add_column("Paid", justify="right", footer=paid_cells[-1], no_wrap=True)
    table.add_column("API equiv.", justify="right", footer=cost_total, no_wrap=True)
    for row, keys, paid, cost in zip(rows, key_cells, paid_cells, cost_cells, strict=False):
        table.add_row(*keys, *(fmt(row[k]) for _, k in order), paid, cost)
    console.print(table)
    console.print(
        "Paid: per token (metered, ≈ estimated); turns a plan covers cost $0 each, the plan's fee is below."
    )
    for plan in data.get("plans", []):
        console.print(escape(plan_line(plan)))
    if totals["unpriced_turns"]:
        console.print(
            f"[yellow]{totals['unpriced_turns']:,} turns unpriced[/yellow]: cost is a lower bound or unknown."
        )
    if not rows:
        console.print("No usage here (why: see the note above).")
    if "energy_wh_min" in totals:
        from tokscope.energy import LABEL, energy_text

        console.print(f"Energy {energy_text(totals['energy_wh_min'], totals['energy_wh_max'])} ({LABEL})")
