"""``tokscope guard``: a governor in the agent's path.

As a Claude Code hook (``PreToolUse``, ``UserPromptSubmit``) it reads the hook's JSON on stdin and
blocks the call (exit 2, the reason on stderr: Claude Code shows it to the model or the user) when a
budget in scope is exhausted; otherwise it lets it pass (exit 0). It decides from the budgets as last
evaluated (``tokscope.budget_state``), with no scan, no ledger and no Polars, so it answers in a few
tens of milliseconds; where those figures are missing or unreadable it fails open with a warning
(exit 1: Claude Code shows it and goes on). Figures older than the ledger are refreshed in the
background for the next call.

As a wrapper (``tokscope guard -- COMMAND …``), for agents without hooks, it checks before starting
the command and then, while it runs, scans and evaluates every ``--interval`` seconds, and stops the
command (SIGTERM, then SIGKILL) when a budget in scope is crossed.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from tokscope import budget_state
from tokscope.budget_state import Context, Stored, Verdict

if TYPE_CHECKING:
    import argparse

#: Hook input larger than this is not an agent's hook input.
MAX_INPUT = 1 << 20
#: How much of the transcript's end is read to find the session's model.
TAIL_BYTES = 64 << 10
#: A background refresh is started at most this often (seconds).
REFRESH_EVERY = 15.0
#: Exit codes Claude Code gives meaning to: pass, block, and a non-blocking error (a warning).
PASS, WARN, BLOCK = 0, 1, 2


def register(sub: Any) -> None:
    """Add ``guard`` to the CLI (also the hot parser's: it runs on every tool call)."""
    p = sub.add_parser(
        "guard",
        help="block an agent's tool call or prompt when a budget in scope is exhausted (Claude Code hooks), "
        "or run a command and stop it when one is crossed (guard -- COMMAND)",
    )
    p.add_argument("--client", default=None, help="the client the call is for (hook default: claude-code)")
    p.add_argument("--workspace", default=None, help="the workspace (default: the hook's cwd, or this directory)")
    p.add_argument("--interval", type=float, default=30.0, help="wrapper: seconds between checks (default 30)")
    p.add_argument("--grace", type=float, default=10.0, help="wrapper: seconds from SIGTERM to SIGKILL (default 10)")
    import argparse

    p.add_argument("command", nargs=argparse.REMAINDER, help="wrapper: -- COMMAND [ARGS…]")
    p.set_defaults(func=cmd_guard)


def cmd_guard(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if command:
        return run_wrapped(command, args)
    return hook(args)


# --- the hook ----------------------------------------------------------------------------------------


def _hook_input() -> dict[str, Any]:
    """The hook's JSON object on stdin ({} when there is none or it is not an object)."""
    if sys.stdin is None or sys.stdin.isatty():
        return {}
    try:
        raw = sys.stdin.buffer.read(MAX_INPUT + 1)
    except (OSError, ValueError):
        return {}
    if len(raw) > MAX_INPUT:
        return {}
    import json

    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def session_model(transcript: str | None) -> str | None:
    """The model of the session's latest turn, from the end of its transcript (read-only, bounded)."""
    if not transcript:
        return None
    import re

    from tokscope.fsutil import open_regular

    try:
        with open_regular(Path(transcript)) as fh:  # a FIFO or a device in its place cannot hang the hook
            size = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, size - TAIL_BYTES))
            tail = fh.read(TAIL_BYTES)
    except (OSError, ValueError):
        return None
    found = re.findall(rb'"model"\s*:\s*"([^"\\]{1,200})"', tail)
    for raw in reversed(found):
        model = raw.decode("utf-8", "replace")
        if model != "<synthetic>":
            return model
    return None


def message(verdicts: list[Verdict]) -> str:
    """What the blocked agent (or its user) reads: which budget, and by how much."""
    from tokscope.format import money

    def tokens(value: float) -> str:
        return f"{value:,.0f} tokens"

    lines = []
    for v in verdicts:
        b = v.budget
        figure = money if b.unit == "usd" else tokens
        over = v.spent - b.limit
        pct = 100.0 * v.spent / b.limit
        what = "this session" if b.period == "session" else f"this {b.period}"
        lines.append(
            f"tokscope guard: budget {b.name!r} is exhausted: {figure(v.spent)} of {figure(b.limit)} for {what} "
            f"({pct:.0f} %, {figure(over)} over)."
        )
    lines.append("Raise the amount in tokscope's config.toml ([[budget]]) or wait for the period to end.")
    return "\n".join(lines)


def _refresh_in_background() -> None:
    """Start ``tokscope budgets --refresh`` detached (at most every ``REFRESH_EVERY`` s): the next
    call decides from figures that include the turns recorded since."""
    from tokscope import paths

    stamp = paths.cache_dir() / "guard" / "refresh.stamp"
    try:
        if time.time() - stamp.stat().st_mtime < REFRESH_EVERY:
            return
    except OSError:
        pass
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp.touch()
        import subprocess

        subprocess.Popen(
            [sys.executable, "-m", "tokscope", "budgets", "--refresh"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        pass  # only slower to notice: the next call tries again


class HookArgs(NamedTuple):
    """``tokscope guard`` as a hook runs it: no flags."""

    client: str | None = None
    workspace: str | None = None


def hook_main() -> int:
    """``tokscope guard`` exactly as the hooks block runs it, before any parser is built (it runs on
    every tool call: argparse and the CLI's module are ~20 ms). Never a traceback: fails open."""
    try:
        return hook(HookArgs())
    except Exception as exc:
        print(f"tokscope guard: {type(exc).__name__}: {exc}; this call passes", file=sys.stderr)
        return WARN


def hook(args: argparse.Namespace | HookArgs) -> int:
    """Decide one hook call: 0 pass, 2 block (reason on stderr), 1 pass with a warning."""
    from tokscope import config as config_mod

    data = _hook_input()
    settings = config_mod.load()
    if not settings.extra.get("budget"):
        return PASS  # no budgets: nothing to govern
    stored = budget_state.load()
    if stored is None:
        _refresh_in_background()
        print(
            f"tokscope guard: no readable budget figures at {budget_state.state_path()} yet (run `tokscope budgets` "
            "once); this call passes",
            file=sys.stderr,
        )
        return WARN
    from tokscope import statusline

    if statusline.fingerprint(settings.shared_folder) != stored.fingerprint:
        _refresh_in_background()
    ctx = Context(
        client=args.client or "claude-code",
        workspace=args.workspace or _text(data.get("cwd")) or str(Path.cwd()),
        device_id=stored.device_id,
        session_id=_text(data.get("session_id")),
        model=session_model(_text(data.get("transcript_path"))),
    )
    found = budget_state.exhausted(stored, ctx, int(time.time() * 1_000_000))
    if not found:
        return PASS
    print(message(found), file=sys.stderr)
    return BLOCK


# --- the wrapper -------------------------------------------------------------------------------------


def _evaluate_now() -> Stored | None:
    """Scan, evaluate every budget against the merged ledger, store and return the figures."""
    from tokscope.budgets import load
    from tokscope.cli.common import run_scan

    run_scan()
    load()
    return budget_state.load()


def _wrapper_context(args: argparse.Namespace, stored: Stored) -> Context:
    workspace = args.workspace or Path.cwd()
    return Context(args.client, str(Path(workspace).resolve()), stored.device_id, None, None)


def run_wrapped(command: list[str], args: argparse.Namespace) -> int:
    """Run ``command`` under the budgets: not at all when one in scope is exhausted (exit 2), stopped
    when one is crossed while it runs (exit 2); else its own exit status."""
    import signal
    import subprocess

    def check() -> list[Verdict] | None:
        try:
            stored = _evaluate_now()
        except Exception as exc:  # tokscope's own trouble never stops the agent
            print(f"tokscope guard: budgets not checked ({type(exc).__name__}: {exc}); going on", file=sys.stderr)
            return None
        if stored is None:
            return None
        return budget_state.exhausted(stored, _wrapper_context(args, stored), int(time.time() * 1_000_000))

    found = check()
    if found:
        print(message(found) + "\nThe command was not started.", file=sys.stderr)
        return BLOCK
    try:
        child = subprocess.Popen(command, start_new_session=True)
    except OSError as exc:
        print(f"tokscope guard: cannot run {command[0]!r}: {exc.strerror or exc}", file=sys.stderr)
        return 127

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            os.killpg(child.pid, signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    interval = max(0.2, args.interval)
    while True:
        try:
            return child.wait(timeout=interval)
        except subprocess.TimeoutExpired:
            pass
        found = check()
        if found and child.poll() is None:
            print(message(found) + "\nStopping the command.", file=sys.stderr)
            _stop(child, max(0.0, args.grace))
            return BLOCK


def _stop(child: Any, grace: float) -> None:
    """SIGTERM the child's process group, then SIGKILL it after ``grace`` seconds."""
    import signal
    import subprocess

    try:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    except ProcessLookupError:
        child.wait()
