"""``tokscope serve``: the same TUI in a browser, through ``textual-serve`` (each browser tab runs
its own ``tokscope`` process). Bound to loopback unless told otherwise: the page shows your usage."""

from __future__ import annotations

import argparse
import shlex
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``serve`` to the CLI."""
    p = sub.add_parser("serve", help="the TUI in a web browser (textual-serve), on localhost by default")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--public-url", help="the URL browsers use, when it differs (a tunnel, a reverse proxy)")
    p.add_argument("--demo", action="store_true", help="serve the demo instead of your own usage")
    p.set_defaults(func=cmd_serve)


def command(demo: bool = False) -> str:
    """The shell command each browser session runs."""
    return shlex.join([sys.executable, "-m", "tokscope", *(["demo"] if demo else [])])


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    try:
        from textual_serve.server import Server
    except ImportError:
        print("tokscope serve needs textual-serve: pip install textual-serve", file=sys.stderr)
        return 2
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"tokscope: serving on {args.host}: anyone who can reach it sees your usage", file=sys.stderr)
    server = Server(command(args.demo), host=args.host, port=args.port, title="tokscope", public_url=args.public_url)
    server.serve()
    return 0
