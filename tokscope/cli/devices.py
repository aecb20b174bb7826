"""``tokscope devices …`` and ``tokscope export``: identity, trust and snapshots from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokscope.cli.common import SHARED_METAVAR, shared_location

if TYPE_CHECKING:
    import polars as pl

    from tokscope.sync.location import S3Location
    from tokscope.usage import Usage

SHARED_HELP = (
    "the folder synced between devices, or s3://bucket/prefix (overrides shared_folder in config.toml and "
    "TOKSCOPE_SHARED)"
)


def shared_parent() -> argparse.ArgumentParser:
    """A parent parser adding ``--shared DIR`` (absent from the namespace unless given)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--shared", type=shared_location, metavar=SHARED_METAVAR, default=argparse.SUPPRESS, help=SHARED_HELP
    )
    return parent


def register(subparsers: Any) -> None:
    """Add ``devices`` (with show/trust/untrust/rename) and ``export`` to the CLI's sub-commands."""
    shared = shared_parent()
    p = subparsers.add_parser(
        "devices",
        parents=[shared],
        help="devices seen in the shared folder, trust, rename",
        description="Without a sub-command: every device seen in the shared folder, with its status.",
    )
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_devices)
    dsub = p.add_subparsers(dest="devices_command", metavar="SUBCOMMAND")

    s = dsub.add_parser("show", parents=[shared], help="this device's id, name and key fingerprint")
    s.add_argument("--format", choices=("table", "json"), default="table")
    s.set_defaults(func=cmd_show)

    s = dsub.add_parser("trust", parents=[shared], help="merge a device's snapshots from now on")
    s.add_argument("device", metavar="ID|NAME")
    s.add_argument("--fingerprint", metavar="FP", help="the fingerprint `tokscope devices show` prints on that device")
    s.set_defaults(func=cmd_trust)

    s = dsub.add_parser("untrust", parents=[shared], help="stop merging a device's snapshots")
    s.add_argument("device", metavar="ID|NAME")
    s.set_defaults(func=cmd_untrust)

    s = dsub.add_parser("rename", help="give this device a new name")
    s.add_argument("name")
    s.set_defaults(func=cmd_rename)

    p = subparsers.add_parser(
        "export", parents=[shared], help="write this device's signed snapshot to the shared folder"
    )
    p.add_argument(
        "--redact-workspaces",
        action="store_true",
        help="export only the last path component of each workspace (also: redact_workspaces = true in config.toml)",
    )
    p.add_argument("--no-scan", action="store_true", help="export the ledger as it is, without scanning first")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    p.set_defaults(func=cmd_export)


def shared_folder(args: argparse.Namespace) -> Path | S3Location | None:
    """``--shared`` if given, else the configured shared folder (config.toml / ``TOKSCOPE_SHARED``)."""
    given = getattr(args, "shared", None)
    if given is not None:
        return given
    from tokscope import config

    return config.load().shared_folder


def _error(message: str) -> int:
    print(f"tokscope: error: {message}", file=sys.stderr)
    return 1


def _warn(*messages: str) -> None:
    for message in messages:
        print(f"tokscope: warning: {message}", file=sys.stderr)


def _identity_notice() -> str | None:
    """This device's notice (a new or loosened key, a new id), if any."""
    from tokscope.sync.identity import load_device

    return load_device().notice


# --- devices -------------------------------------------------------------------


def cmd_devices(args: argparse.Namespace) -> int:
    """``tokscope devices``: this device and every device seen in the shared folder."""
    from tokscope.sync.merge import list_devices
    from tokscope.sync.trust import NO_SHARED

    shared = shared_folder(args)
    warnings: list[str] = []
    devices = list_devices(shared, warnings=warnings)
    _warn(*warnings)
    if args.format == "json":
        print(json.dumps([d.as_dict() for d in devices], indent=2))
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from tokscope.format import tokens

    title = f"Devices in {escape(str(shared))}" if shared else "Devices (no shared folder configured)"
    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("Name", "left"),
        ("Id", "left"),
        ("Fingerprint", "left"),
        ("Trusted", "center"),
        ("Last export", "left"),
        ("Rows", "right"),
        ("Status", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    from tokscope.sync.merge import DeviceState

    colors = {
        DeviceState.THIS_DEVICE: "cyan",
        DeviceState.MERGED: "green",
        DeviceState.UNTRUSTED: "yellow",
        DeviceState.REFUSED: "red",
        DeviceState.MISSING: "red",
    }
    for d in devices:
        status = f"[{colors.get(d.status, 'white')}]{d.status}[/]"
        if d.reason:
            status += f": {escape(d.reason)}"
        table.add_row(  # names and dates come from other devices' manifests: never markup
            escape(d.name),
            escape(d.id),
            escape(d.fingerprint or ""),
            "yes" if d.trusted else "no",
            escape(d.last_export or ""),
            tokens(d.rows) if d.rows is not None else "",
            status,
        )
    console = Console()
    console.print(table)
    if shared is None:
        console.print(NO_SHARED)
    notice = _identity_notice()
    if notice:
        _warn(f"this device: {notice}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """``tokscope devices show``: this device's id, name, fingerprint and public key."""
    from tokscope.sync.identity import IdentityError, clear_notice, load_identity

    try:
        ident = load_identity()
    except IdentityError as exc:
        return _error(str(exc))
    if ident.device.notice:
        _warn(ident.device.notice)
        clear_notice()  # shown with the fingerprint to pass on: said
    data = {
        "id": ident.device.id,
        "name": ident.device.name,
        "fingerprint": ident.fingerprint,
        "public_key": ident.public_key_text,
    }
    if args.format == "json":
        print(json.dumps(data, indent=2))
    else:
        for key, label in (
            ("name", "Name"),
            ("id", "Id"),
            ("fingerprint", "Fingerprint"),
            ("public_key", "Public key"),
        ):
            print(f"{label + ':':<13}{data[key]}")
    return 0


def cmd_trust(args: argparse.Namespace) -> int:
    """``tokscope devices trust ID|NAME [--fingerprint FP]``."""
    from tokscope.sync.trust import NO_SHARED, TrustRefused, trust

    shared = shared_folder(args)
    if shared is None:
        return _error(NO_SHARED)
    try:
        pinned = trust(
            args.device, fingerprint=args.fingerprint, shared=shared, confirm=_ask if sys.stdin.isatty() else None
        )
    except TrustRefused as exc:
        return _error(str(exc))
    print(f"Trusted {pinned.name or pinned.id} ({pinned.id}), key fingerprint {pinned.fingerprint}.")
    return 0


def _ask(device_id: str, name: str, fingerprint: str) -> bool:
    """On a terminal: show the key's fingerprint and ask, as ssh does for a new host."""
    print(f"Device {name or '?'} ({device_id}) presents the key fingerprint\n\n    {fingerprint}\n")
    print("Compare it with what `tokscope devices show` prints on that device.")
    try:
        answer = input("Trust this device? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_untrust(args: argparse.Namespace) -> int:
    """``tokscope devices untrust ID|NAME``."""
    from tokscope.sync.trust import TrustRefused, untrust

    try:
        device_id = untrust(args.device, shared=shared_folder(args))
    except TrustRefused as exc:
        return _error(str(exc))
    print(f"No longer trusting {device_id}: its snapshots are not merged any more.")
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    """``tokscope devices rename NAME``."""
    from tokscope.sync.identity import rename_device

    try:
        device = rename_device(args.name)
    except ValueError as exc:
        return _error(str(exc))
    print(f"This device is now {device.name!r} ({device.id}); other devices see the name after the next export.")
    return 0


# --- export --------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    """``tokscope export [--redact-workspaces]``."""
    import time

    from tokscope.sync.identity import IdentityError
    from tokscope.sync.snapshot import export
    from tokscope.sync.trust import NO_SHARED

    shared = shared_folder(args)
    if shared is None:
        return _error(NO_SHARED)
    if isinstance(shared, Path) and not shared.is_dir():
        return _error(f"shared folder {shared} does not exist (create it, or point --shared at the synced folder)")
    if not args.no_scan:
        from tokscope.cli.common import print_errors, run_scan

        print_errors(run_scan(quiet=args.quiet))
    start = time.perf_counter()
    try:
        result = export(shared, redact_workspaces=True if args.redact_workspaces else None)
    except (OSError, IdentityError) as exc:
        return _error(f"export failed: {exc}")
    elapsed = time.perf_counter() - start
    notice = _identity_notice()
    if notice:
        _warn(f"this device: {notice}")
    if args.quiet:
        return 0
    if result.unchanged:
        print(f"Nothing new: {result.folder} is up to date (sequence {result.sequence}, {result.rows:,} events).")
    else:
        print(
            f"Exported {result.rows:,} events in {result.months} month files to {result.folder} "
            f"({len(result.written)} written, {len(result.removed)} removed), sequence {result.sequence}, "
            f"in {elapsed:.2f}s."
        )
    return 0


# --- report helpers ------------------------------------------------------------


def device_filter(wanted: list[str], usage: Usage) -> list[str]:
    """``report --device`` values (ids, id prefixes or names) as device ids; exits with an error for an unknown one."""
    from tokscope.sync.trust import match_devices

    if not wanted:
        return []
    names = usage.device_names()
    ids: list[str] = []
    for value in wanted:
        found = match_devices(value, list(names.items()))
        if not found:
            known = ", ".join(f"{n} ({i})" for i, n in names.items())
            print(f"tokscope: error: no device {value!r} (known: {known})", file=sys.stderr)
            raise SystemExit(2)
        ids.extend(found)
    return ids


def with_device_names(rows: pl.DataFrame, usage: Usage) -> pl.DataFrame:
    """Report rows (a Polars frame) with a ``device_name`` column right after ``device``, when grouped by device."""
    import polars as pl

    if "device" not in rows.columns:
        return rows
    names = usage.device_names()
    named = rows.with_columns(device_name=pl.col("device").replace_strict(names, default="", return_dtype=pl.String))
    columns = [c for k in rows.columns for c in ((k, "device_name") if k == "device" else (k,))]
    return named.select(columns)
