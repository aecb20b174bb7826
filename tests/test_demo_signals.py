"""A demo ended by SIGTERM or SIGHUP (a closed tmux pane) removes its temporary directory."""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
import time
from pathlib import Path

import pytest


def _drain(fd: int, seen: bytearray | None = None) -> None:
    """Read what the app wrote, without blocking (a full pty would stall it); keep the last 4 KB in ``seen``."""
    while select.select([fd], [], [], 0.05)[0]:
        try:
            data = os.read(fd, 65536)
        except OSError:
            return
        if not data:
            return
        if seen is not None:
            seen[:] = (seen + data)[-4096:]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_killed_demo_leaves_no_temporary_directory(tmp_path: Path, sig: signal.Signals) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: the demo on a pseudo-terminal
        os.execve(sys.executable, [sys.executable, "-m", "tokscope", "demo"], env)
    seen = bytearray()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(tmp.glob("tokscope-demo-*/home/.local")):
            _drain(fd, seen)
        assert any(tmp.glob("tokscope-demo-*")), "the demo did not start"
        _drain(fd, seen)
        os.kill(pid, sig)
        deadline = time.monotonic() + 15
        status = None
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            _drain(fd, seen)
        _drain(fd, seen)
        assert status is not None and os.WIFEXITED(status), "the demo did not exit"
        assert os.WEXITSTATUS(status) == 128 + sig, seen.decode(errors="replace")[-1500:]
        assert not list(tmp.glob("tokscope-demo-*"))
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
