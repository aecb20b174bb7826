"""Packaging and import hygiene."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readers_and_widgets_install_under_tokscope() -> None:
    import tokscope.readers
    import tokscope.widgets

    assert Path(tokscope.readers.__file__).parent == REPO / "readers"
    assert Path(tokscope.widgets.__file__).parent == REPO / "widgets"


def test_core_and_readers_never_import_textual() -> None:
    code = (
        "import sys, tokscope.readers, tokscope.cli, tokscope.query, tokscope.ledger, tokscope.scan;"
        "import tokscope.tui.view, tokscope.tui.loading;"  # the start-up prefetch runs them before Textual loads
        "tokscope.readers.all_readers();"
        "bad = [m for m in ('textual', 'tokscope.widgets') if m in sys.modules];"
        "print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert result.returncode == 0, f"imported: {result.stdout} {result.stderr}"


def test_import_contracts_hold() -> None:
    """pyproject's import-linter contracts: every core and reader module, Textual-free (lazy imports included)."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_readers_do_not_import_polars() -> None:
    code = "import sys, tokscope.readers; tokscope.readers.all_readers();sys.exit(1 if 'polars' in sys.modules else 0)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert result.returncode == 0, "scan workers should not pay for importing polars"


def test_every_reader_client_is_in_the_enum() -> None:
    from tokscope.readers import all_readers

    from tokscope.events import CLIENTS

    for reader in all_readers():
        assert reader.client in CLIENTS
