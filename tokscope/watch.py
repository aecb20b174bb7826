"""File watching for the TUI: watchdog on every reader's roots and on the shared folder.

The watchdog observer runs in its own daemon thread. Its handler does nothing but
call ``notify(path, shared)`` — the app passes a function that posts a coalescing
``SourcesChanged`` message — so a burst of file events costs one rescan. Only
created / modified / moved / deleted events are delivered: on Linux, *reading* a
file emits opened / closed events, and a rescan would otherwise retrigger itself.

A root that does not exist yet (no ``~/.codex`` before Codex is first run) is
watched through its nearest existing ancestor, non-recursively; when something
is created there, ``refresh()`` re-plans the watches.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

log = logging.getLogger(__name__)

#: The event types that mean content changed. (Directory "modified" events are
#: left out: they fire for every file written inside, adding nothing.)
EVENT_TYPES = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
    DirDeletedEvent,
]

Notify = Callable[[str, bool], None]


def plan_watches(roots: Iterable[Path], shared: Path | None) -> dict[Path, tuple[bool, bool]]:
    """Directories to watch: ``{dir: (recursive, is_shared)}``.

    Existing roots are watched recursively; a missing root through its nearest
    existing ancestor, non-recursively (to see it appear). A file root is watched
    through its directory.
    """
    plan: dict[Path, tuple[bool, bool]] = {}

    def add(path: Path, is_shared: bool) -> None:
        path = path.expanduser()
        if path.is_file():
            path = path.parent
            recursive = False
        elif path.is_dir():
            recursive = True
        else:
            parent = path.parent
            while parent != parent.parent and not parent.is_dir():
                parent = parent.parent
            if not parent.is_dir():
                return
            path, recursive = parent, False
        old = plan.get(path)
        if old is None or (recursive and not old[0]):
            plan[path] = (recursive, is_shared or (old[1] if old else False))

    for root, is_shared in [*((Path(r), False) for r in roots), *([(Path(shared), True)] if shared else [])]:
        try:
            add(root, is_shared)
        except OSError:  # an unreadable parent (EACCES) costs that root its live updates, not the watcher
            continue
    # a recursive watch makes watches below it redundant
    recursive_dirs = [p for p, (rec, _s) in plan.items() if rec]
    return {p: v for p, v in plan.items() if not any(r != p and r in p.parents for r in recursive_dirs)}


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: SourceWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileClosedEvent):
            return
        path = event.dest_path if getattr(event, "dest_path", "") else event.src_path
        self.watcher.changed(str(path), event.is_directory)


class SourceWatcher:
    """Watch reader roots and the shared folder; call ``notify`` on changes."""

    def __init__(
        self,
        roots: Iterable[Path],
        shared: Path | None,
        notify: Notify,
        ignore: Iterable[Path] = (),
    ) -> None:
        self.roots = [Path(r) for r in roots]
        self.shared = Path(shared) if shared else None
        self.notify = notify
        self.ignore = [str(Path(p)) for p in ignore]
        """Paths whose changes are ours (this device's own export folder)."""
        self._observer: Observer | None = None
        self._planned: dict[Path, tuple[bool, bool]] = {}
        self._lock = threading.Lock()
        self._handler = _Handler(self)

    @property
    def watched(self) -> dict[Path, tuple[bool, bool]]:
        """What is watched now: ``{dir: (recursive, is_shared)}``."""
        return dict(self._planned)

    def start(self) -> None:
        """Start the observer thread (idempotent)."""
        if self._observer is not None:
            return
        self._observer = Observer()
        self._observer.daemon = True
        self._schedule()
        self._observer.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop and join the observer thread."""
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=timeout)

    def refresh(self) -> None:
        """Add watches for roots that exist now (old watches stay: harmless, and no event is lost)."""
        if self._observer is None:
            return
        with self._lock:
            self._schedule()

    def _schedule(self) -> None:
        assert self._observer is not None
        handler = self._handler
        for path, (recursive, is_shared) in plan_watches(self.roots, self.shared).items():
            if self._planned.get(path, (False, False))[0] >= recursive and path in self._planned:
                continue
            try:
                self._observer.schedule(handler, str(path), recursive=recursive, event_filter=EVENT_TYPES)
            except OSError as exc:  # permissions, inotify watch limit
                log.warning("cannot watch %s: %s", path, exc)
                continue
            self._planned[path] = (recursive, is_shared)

    def is_shared(self, path: str) -> bool:
        """True if ``path`` lies in the shared folder."""
        return self.shared is not None and (path == str(self.shared) or path.startswith(str(self.shared) + "/"))

    def changed(self, path: str, is_directory: bool) -> None:
        """Handle one change (called from the observer thread)."""
        if any(path == p or path.startswith(p + "/") for p in self.ignore):
            return
        if is_directory:
            self.refresh()
        shared = self.is_shared(path)
        if not shared and not self._relevant(path):
            return
        self.notify(path, shared)

    def _relevant(self, path: str) -> bool:
        """Changes under a watched ancestor of a missing root count only on the way to a root."""
        target = Path(path)
        return any(target == root or root in target.parents or target in root.parents for root in self.roots)
