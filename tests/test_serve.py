"""``tokscope serve``: a real HTTP server on loopback that serves the TUI's page."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytest.importorskip("textual_serve")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_on_loopback_with_the_tui_page(tmp_path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tokscope", "serve", "--demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 20
        page = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    assert response.status == 200
                    page = response.read().decode()
                    break
            except OSError:
                time.sleep(0.2)
        assert "tokscope" in page.lower()
        assert "websocket" in page.lower() or "ws" in page.lower()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_each_browser_session_runs_tokscope_itself() -> None:
    from tokscope.tui.serve import command

    assert command().endswith("-m tokscope")
    assert command(demo=True).endswith("-m tokscope demo")
