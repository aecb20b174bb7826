"""Running the CLI in this process, for end-to-end tests on the test's HOME."""

from __future__ import annotations

import contextlib
import io

from tokscope.cli import main


def cli(*args: str) -> tuple[int, str, str]:
    """``tokscope ARGS`` in this process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()
