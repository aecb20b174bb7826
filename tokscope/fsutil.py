"""Crash-safe file writes: temp file + fsync + rename, so readers never see half a file.

Directories these create are private (0700) whatever the umask: tokscope's config, data and
cache hold a private key, trust decisions and usage history.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

#: Mode of the directories tokscope creates for itself.
PRIVATE_DIR = 0o700


def ensure_dir(path: Path, mode: int = PRIVATE_DIR) -> None:
    """Create ``path`` and its missing parents with exactly ``mode`` (the umask cannot widen or narrow it)."""
    if path.is_dir():
        return
    missing = []
    for parent in (path, *path.parents):
        if parent.is_dir():
            break
        missing.append(parent)
    for directory in reversed(missing):
        try:
            directory.mkdir(mode)
        except FileExistsError:
            continue  # another process made it
        with contextlib.suppress(OSError):  # some synced or network filesystems have no modes
            directory.chmod(mode)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write_with(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_with(
    path: Path, write: Callable[[Path], object], durable: bool = True, rename: Callable[[Path], Path] | None = None
) -> Path:
    """Let ``write`` fill a temp file beside ``path``, fsync it, then rename it over ``path``; return the path.

    ``durable=False`` skips the fsyncs: still atomic for readers, for caches that a crash
    may lose (a lost or unreadable cache file is rebuilt). ``rename`` names the file from its
    finished temp file instead (content-addressed names: ``path`` then only places the temp file).
    """
    ensure_dir(path.parent)
    tmp = _new_temp(path)
    try:
        write(tmp)
        if durable:
            with tmp.open("rb+") as fh:
                os.fsync(fh.fileno())
        if rename is not None:
            path = rename(tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)
    return path


def _new_temp(path: Path) -> Path:
    """A new private empty file ``.<name>.<random>.tmp`` beside ``path`` (``tempfile.mkstemp``'s
    contract, without its import: ~3 ms with ``random`` and ``shutil``, on every rescan)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            os.close(os.open(tmp, flags, 0o600))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"no free temp name beside {path}")


def fsync_dir(directory: Path) -> None:
    """fsync a directory so a rename in it survives a crash (no-op where unsupported)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if needed)."""
    ensure_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0), 0o600)
    with os.fdopen(fd, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class NotRegularFile(OSError):
    """A path that should be a regular file is a FIFO, a device, a socket or a directory."""


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for binary reading, only if it is a regular file.

    The open never blocks (``O_NONBLOCK``: a FIFO in place of a log cannot hang a scan) and
    follows no symlink to something that is not a regular file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file", str(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
