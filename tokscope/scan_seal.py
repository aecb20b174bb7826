"""The scan seal: what the last complete scan's result depended on, so that a rescan with nothing new
answers from a few thousand stats without importing a reader, loading the scan state or walking a
directory (the statusline and ``tokscope scan`` in a shell prompt run this many times a minute).

A scan's result is a function of

* tokscope's code and settings: its version, the readers package, ``config.toml``, the environment;
* what discovery looked at: every path it stat'ed, every directory it listed, every file it opened
  (recorded as it happens, with the mark it had then: see ``recording``);
* every source file's stat (the scan reads a file only when its stat changed);
* the ledger's scan state (another process that scanned changed it).

The seal keeps the mark (inode, size, mtime) of each. ``check`` compares them all with the file
system now: equal means a full scan would find the same files, read none and write nothing, so its
summary is the sealed one. A mark that changed less than ``RACY_NS`` before it was taken may change
again in the same clock tick unseen, so a scan that met one writes no seal (the next scan is a full one).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from tokscope import __version__, marshal_file, paths
from tokscope.scan_summary import ScanSummary

FILE_NAME = "seal.msgpack"
#: ``scan_state.FILE_NAME`` (not imported: the check stays free of the scan's imports).
STATE_NAME = "scan-state.msgpack"
#: ``scan_state.LOG_NAME``: the state's appended changes.
STATE_LOG_NAME = "scan-state.log"
#: A mark this recent (ns) may change again within the same file-system clock tick.
RACY_NS = 2_000_000_000
#: Variables that move tokscope's or a reader's paths besides those the readers declare.
ENV_PREFIXES = ("XDG_", "TOKSCOPE_")
ENV_NAMES = ("HOME", "USERPROFILE", "APPDATA", "LOCALAPPDATA")

Mark = tuple[int, int, int] | None
"""(inode, size, mtime_ns) of a path, or None when it does not exist."""


#: The seal's layout version (``marshal`` of plain tuples: it loads in a few ms and imports nothing;
#: msgspec's import alone is 20 ms, and this runs on every statusline).
SEAL_VERSION = 3


class SealedSource(NamedTuple):
    """A source as the scan last saw it: enough to stat it again (and to read it without discovery)."""

    path: str
    client: str
    mode: str
    dev: int
    ino: int
    size: int
    mtime: int
    companions: tuple[str, ...] = ()
    comp: tuple[tuple[int, int, int] | None, ...] = ()


class Seal(NamedTuple):
    code: tuple[Any, ...]
    """The tokscope version, the readers package's folder and its mark (a reader added or removed)."""
    env: tuple[tuple[str, str | None], ...]
    config: Mark
    state: tuple[Mark, Mark]
    """The scan state's table and log after the scan wrote them (or found them unchanged)."""
    files: int
    events: int
    per_client: dict[str, int]
    modules: dict[str, str]
    """Each client's reader module (``tokscope.readers.load_module``): a rescan imports only those it reads."""
    deps: tuple[tuple[str, Mark], ...]
    """Every path discovery stat'ed, listed or opened, with its mark then."""
    sources: tuple[tuple[Any, ...], ...]
    """``SealedSource`` fields as tuples (built into objects only when needed)."""

    def sealed_sources(self) -> list[SealedSource]:
        return [SealedSource(*s) for s in self.sources]


def state_mark(ledger_root: Path) -> tuple[Mark, Mark]:
    """The marks of the scan state's table and its log (a scan by any process changes one)."""
    return mark(str(ledger_root / STATE_NAME)), mark(str(ledger_root / STATE_LOG_NAME))


def mark(path: str) -> Mark:
    try:
        st = os.stat(path)  # noqa: PTH116 (str paths: the check does this thousands of times)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def code_mark(readers_dir: str) -> tuple[Any, ...]:
    """The version and the readers package's mark (a module added or removed changes it)."""
    return (__version__, readers_dir, mark(readers_dir))


def comp_marks(companions: tuple[str, ...]) -> tuple[Mark, ...]:
    """Companion files' marks."""
    return tuple(mark(c) for c in companions)


def _env(names: list[str]) -> tuple[tuple[str, str | None], ...]:
    get = os.environ.get
    return tuple((name, get(name)) for name in names)


def env_names(declared: tuple[str, ...]) -> list[str]:
    """The environment variables a scan's result depends on: ``declared`` (the readers'), the base
    directories and tokscope's own."""
    names = set(declared) | set(ENV_NAMES) | {n for n in os.environ if n.startswith(ENV_PREFIXES)}
    return sorted(names)


def config_path() -> str:
    return str(paths.config_dir() / "config.toml")


def seal_path(ledger_root: Path) -> Path:
    return ledger_root / FILE_NAME


# --- recording what discovery looks at ---------------------------------------------------------

_lock = threading.Lock()
_active: dict[str, Mark] | None = None
_real_stat = os.stat


def _recording_stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
    relative = kwargs.get("dir_fd") is not None  # a name in an open directory: not a path to keep
    try:
        st = _real_stat(path, *args, **kwargs)
    except OSError:
        if not relative:
            _note(path, None)
        raise
    if not relative:
        _note(path, (st.st_ino, st.st_size, st.st_mtime_ns))
    return st


def _note(path: Any, value: Mark | bool) -> None:
    """Keep the first mark seen of ``path`` (``True``: stat it now)."""
    active = _active
    if active is None or isinstance(path, int):
        return
    key = path if isinstance(path, str) else os.fsdecode(os.fspath(path))
    if key not in active:
        active[key] = mark(key) if value is True else value  # type: ignore[assignment]


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # listings and opens: the directory or file is marked before it is read, as it was then
    if _active is not None and event in _AUDITED and args:
        if event == "open" and len(args) > 1 and isinstance(args[1], str) and "r" not in args[1]:
            return
        _note(args[0] if args[0] is not None else ".", True)


_AUDITED = frozenset({"os.scandir", "os.listdir", "open", "sqlite3.connect"})
_hooked = False


@contextlib.contextmanager
def recording() -> Iterator[dict[str, Mark] | None]:
    """Record, while the block runs, every path this process stats, lists or opens, with its mark at
    the time (a dict: path -> mark). Yields None when another recording is under way (a scan in
    another thread): that scan then writes no seal.

    ``os.stat`` is swapped for a recording wrapper for the block (pathlib and ``os.path`` call it
    at call time), and an audit hook sees the listings and opens, which are not stats.
    """
    global _active, _hooked
    if not _lock.acquire(blocking=False):
        yield None
        return
    try:
        if not _hooked:
            sys.addaudithook(_audit)  # permanent by design; costs one compare per event when idle
            _hooked = True
        _active = {}
        os.stat = _recording_stat
        try:
            yield _active
        finally:
            os.stat = _real_stat
            _active = None
    finally:
        _lock.release()


# --- writing and checking ----------------------------------------------------------------------


def remove(ledger_root: Path) -> None:
    """Drop the seal (the next rescan is a full one)."""
    with contextlib.suppress(OSError):
        seal_path(ledger_root).unlink()


def write(
    ledger_root: Path,
    deps: dict[str, Mark],
    env: list[str],
    modules: dict[str, str],
    sources: list[SealedSource] | list[tuple[Any, ...]],
    files: int,
    events: int,
    per_client: dict[str, int],
    checked: bool = False,
) -> bool:
    """Seal a complete scan (no errors; the scan state just saved or unchanged): ``env`` names the
    variables it depended on (``env_names``). False when a mark was racy or changed since discovery
    took it, and no seal was written; an old seal is removed either way first. ``checked``: the
    marks are the old seal's, which ``verify`` just found equal to the disk (a rescan), so they are
    not stat'ed again (one that changes since is seen by the next ``verify``, as always)."""
    path = seal_path(ledger_root)
    remove(ledger_root)
    racy_after = time.time_ns() - RACY_NS
    if any(m is not None and m[2] > racy_after for m in deps.values()):
        return False
    if not checked and any(mark(path) != old for path, old in deps.items()):
        return False  # changed since discovery looked (tokscope's own first files in HOME, say)
    from tokscope import readers

    seal = Seal(
        code=code_mark(str(Path(readers.__file__).parent)),
        env=_env(env),
        config=mark(config_path()),
        state=state_mark(ledger_root),
        files=files,
        events=events,
        per_client=per_client,
        modules=modules,
        deps=tuple(sorted(deps.items())),
        sources=tuple(tuple(s) for s in sources),
    )
    return marshal_file.dump(path, (SEAL_VERSION, *seal))


def summary(seal: Seal) -> ScanSummary:
    """The summary a full scan would give when nothing changed since ``seal`` was written."""
    return ScanSummary(
        files=seal.files,
        events=seal.events,
        per_client=dict(seal.per_client),
        discover_errors={client: [] for client in seal.per_client},
    )


def load(ledger_root: Path) -> Seal | None:
    """The seal as written, or None (missing, damaged, another layout)."""
    raw = marshal_file.load(seal_path(ledger_root))
    if not isinstance(raw, tuple) or len(raw) != 1 + len(Seal._fields) or raw[0] != SEAL_VERSION:
        return None
    seal = Seal(*raw[1:])
    if not (isinstance(seal.deps, tuple) and isinstance(seal.sources, tuple) and isinstance(seal.env, tuple)):
        return None
    return seal


def check(ledger_root: Path | None = None) -> Seal | None:
    """The seal, if nothing it depends on changed since it was written; else None."""
    found = verify(ledger_root)
    return found[0] if found is not None and not found[1] else None


def verify(ledger_root: Path | None = None) -> tuple[Seal, list[int]] | None:
    """The seal and the indexes of its sources whose stat changed, if nothing else it depends on
    changed (then discovery would find the same files, and only those need reading); else None."""
    root = ledger_root or paths.ledger_dir()
    seal = load(root)
    if seal is None or len(seal.code) != 3 or not isinstance(seal.code[1], str) or seal.code != code_mark(seal.code[1]):
        return None
    names = {name for name, _ in seal.env}
    if seal.env != _env(sorted(names)) or any(n.startswith(ENV_PREFIXES) and n not in names for n in os.environ):
        return None
    if seal.config != mark(config_path()) or seal.state != state_mark(root):
        return None
    stat = _real_stat
    for path, old in seal.deps:
        try:
            st = stat(path)
        except OSError:
            if old is not None:
                return None
            continue
        except (ValueError, TypeError):
            return None
        if old is None or old != (st.st_ino, st.st_size, st.st_mtime_ns):
            return None
    changed: list[int] = []
    try:
        for index, (path, _client, _mode, dev, ino, size, mtime, companions, comp) in enumerate(seal.sources):
            st = stat(path)
            same = size == st.st_size and mtime == st.st_mtime_ns and ino == st.st_ino and dev == st.st_dev
            if not same or (companions and comp_marks(companions) != comp):
                changed.append(index)
    except (OSError, ValueError, TypeError):  # gone (discovery would drop it), or a damaged entry
        return None
    return seal, changed
