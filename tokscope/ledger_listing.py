"""A Polars-free look at the ledger's files: has anything changed since the last full check?

A scan that wrote nothing only needs the ledger checked again (segment digests, foreign files)
when its folder changed since the last check that found nothing wrong; this answers that from a
directory listing, so a no-change rescan imports no Polars and hashes nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tokscope import paths

#: Where the listing of the last clean check is kept (inside the ledger's own folder).
MARK = ".checked"

#: What belongs in the ledger's root besides ``events/``: each owner's ``FILE_NAME`` / ``LOCK_NAME``
#: (``scan_state``, ``statusline``, ``scan_seal``, ``alerts``, ``quota``, ``budget_state``), spelled
#: here so this stays import-free; ``tests/test_ledger_listing.py`` holds them equal. The check finds
#: nothing to say about these, so the listing leaves them out: a seal written or removed, or a
#: statusline cache created, is no reason to check the ledger again.
ROOT_FILES = frozenset(
    {"scan-state.msgpack", "scan-state.log", "state.json", "statusline.msgpack", "seal.msgpack", MARK}
    | {"health.json", "lock", "events", "quarantine", "alerts.json", ".alerts.lock", "quota.msgpack", "budgets.msgpack"}
    | {"invoices.json"}
)

#: A segment's name: kind, sequence number, and (since integrity checks) the digest of its bytes;
#: Parquet, or msgpack for a delta written without Polars (``tokscope.ledger_journal``, digest required).
_SEGMENT = re.compile(r"(base|delta)-(\d{8,})(?:-([0-9a-f]{16}))?\.parquet|(delta)-(\d{8,})-([0-9a-f]{16})\.msgpack")


def parse_name(name: str) -> tuple[str, int, str | None] | None:
    """``(kind, seq, digest)`` of a segment's file name, or None when it is not one."""
    match = _SEGMENT.fullmatch(name)
    if match is None:
        return None
    if match[1] is not None:
        return match[1], int(match[2]), match[3]
    return match[4], int(match[5]), match[6]


def listing(root: Path) -> str:
    """The names in the ledger's folder, and the names, sizes and modification times in its events folder.

    The check reads the root only for names it does not know (its own files' contents are not
    checked), so a statusline or scan rewriting its cache there leaves the listing as it was.
    """
    lines = []
    for folder in (root, root / "events"):
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except FileNotFoundError:
            lines.append(f"{folder.name}|absent")
            continue
        except OSError as exc:
            return f"unreadable {exc.errno}"
        for entry in entries:
            if entry.name == MARK:
                continue
            if folder is root:
                if entry.name not in ROOT_FILES:
                    lines.append(entry.name)
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                lines.append(f"{entry.name}|gone")
                continue
            lines.append(f"events/{entry.name}|{st.st_size}|{st.st_mtime_ns}|{st.st_mode}")
    return "\n".join(lines)


def unchanged_since_clean_check(root: Path | None = None) -> bool:
    """True when the events folder is exactly as the last check that found nothing left it."""
    root = root or paths.ledger_dir()
    try:
        return (root / MARK).read_text(encoding="utf-8", errors="surrogateescape") == listing(root)
    except (OSError, UnicodeDecodeError):
        return False


def mark_clean(root: Path | None = None) -> None:
    """Remember the listing after a check that found nothing (written only when it differs)."""
    root = root or paths.ledger_dir()
    now = listing(root)
    mark = root / MARK
    try:
        if mark.read_text(encoding="utf-8", errors="surrogateescape") == now:
            return
    except (OSError, UnicodeDecodeError):
        pass
    try:
        if root.is_dir():  # private whatever the umask, like the rest of tokscope's files
            fd = os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
            try:
                os.write(fd, now.encode("utf-8", "surrogateescape"))
            finally:
                os.close(fd)
    except OSError:
        pass  # the next scan checks again: only slower
