"""What the CLI's commands share: the incremental scan with its progress bar, and printing its problems.

Every command module (``tokscope.cli``, ``cli.devices``, ``cli.prices``, and the feature modules that
add commands) imports these from here, so no command module imports another.
"""

from __future__ import annotations

import sys
from typing import Any


def run_scan(quiet: bool = True, check_ledger: bool = True) -> Any:
    """Scan incrementally; show a progress bar on stderr when there is much to read.

    Rich is imported only for the bar, so a rescan with nothing new stays fast. ``check_ledger``
    adds the ledger's damaged or foreign files to the errors (it loads the ledger module: Polars).
    The readers are those the ``readers`` setting chooses; a name it does not know is an error line.
    """
    from tokscope import scan_seal

    found = scan_seal.verify()
    if found is not None and not found[1]:  # nothing changed since the last complete scan
        return _checked(scan_seal.summary(found[0]), check_ledger)
    from tokscope import config as config_mod
    from tokscope.readers import choose_readers
    from tokscope.scan import rescan, scan

    bar: Any = None
    task = None

    def on_plan(files: int, size: int) -> None:
        nonlocal bar, task
        if not quiet and sys.stderr.isatty() and size >= 16 << 20:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

            bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            bar.start()
            task = bar.add_task(f"scanning {files:,} files", total=size)

    def progress(done: int, total: int) -> None:
        if bar is not None and task is not None:
            bar.update(task, completed=done)

    try:
        if found is not None:  # only some sources changed: read them, without discovery
            from tokscope.ledger_listing import mark_clean, unchanged_since_clean_check

            clean = check_ledger and unchanged_since_clean_check()
            summary = rescan(*found, progress=progress, on_plan=on_plan)
            if clean and summary.new_events is None:  # journaled: what changed is only what it wrote
                mark_clean()
                return summary
            return _checked(summary, check_ledger)
        choice = choose_readers(config_mod.load().readers)
        summary = scan(readers=choice.readers, progress=progress, on_plan=on_plan, seal=not choice.problems)
    finally:
        if bar is not None:
            bar.stop()
    summary.errors[:0] = choice.problems
    return _checked(summary, check_ledger)


def _checked(summary: Any, check_ledger: bool) -> Any:
    """``summary`` with the ledger's damaged or foreign files added to its errors (``check_ledger``)."""
    if check_ledger:
        from tokscope.ledger_listing import mark_clean, unchanged_since_clean_check

        if summary.read or summary.new_events or not unchanged_since_clean_check():
            from tokscope.doctor import warnings
            from tokscope.ledger import Ledger

            found = warnings(Ledger())
            summary.errors.extend(found)
            if not found:
                mark_clean()
    return summary


def print_errors(summary: Any, limit: int = 20) -> None:
    for message in summary.errors[:limit]:
        print(f"tokscope: warning: {message}", file=sys.stderr)
    if len(summary.errors) > limit:
        print(f"tokscope: warning: … and {len(summary.errors) - limit} more", file=sys.stderr)


def shared_location(text: str) -> Any:
    """The ``--shared`` value: a folder path or ``s3://bucket/prefix`` (an argparse ``type``)."""
    import argparse

    from tokscope.sync.location import parse_shared

    try:
        return parse_shared(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


#: ``--shared``'s metavar wherever the flag is.
SHARED_METAVAR = "DIR|s3://BUCKET/PREFIX"


def write_csv(rows: list[dict[str, Any]], fields: tuple[str, ...] | list[str]) -> None:
    """``rows`` as CSV on stdout, a header of ``fields`` first (None as an empty cell)."""
    import csv

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        writer.writerow(["" if row[k] is None else row[k] for k in fields])
