"""Simulated devices for the device/snapshot/merge tests: each has its own HOME, config, data and
cache dirs; all share one folder. Claude Code transcripts are the agent logs they scan."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.s3_server import FolderSide, Side
from tokscope.cli import main

#: Every token counter of a generated turn: input 10, output 5, cache read 100 -> 115 total tokens.
TURN_INPUT, TURN_OUTPUT, TURN_CACHE_READ = 10, 5, 100
TURN_TOTAL = TURN_INPUT + TURN_OUTPUT + TURN_CACHE_READ

_ENV_KEYS = (
    "HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "TOKSCOPE_SHARED",
    "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
)  # fmt: skip


class _Terminal(io.StringIO):
    """Standard input that is a terminal with a person's answer typed in."""

    def isatty(self) -> bool:
        return True


@contextlib.contextmanager
def _stdin(stream: io.StringIO) -> Iterator[None]:
    saved, sys.stdin = sys.stdin, stream
    try:
        yield
    finally:
        sys.stdin = saved


class Dev:
    """One simulated machine."""

    def __init__(self, root: Path, shared: Path, label: str, side: Side | None = None) -> None:
        self.root = root / label
        self.label = label
        self.shared = shared
        self.side: Side = side if side is not None else FolderSide(shared)
        """The shared location as tests reach it behind tokscope's back (a folder or a bucket prefix)."""
        self.home = self.root / "home"
        self.home.mkdir(parents=True, exist_ok=True)

    @property
    def env(self) -> dict[str, str]:
        """The environment variables that make tokscope run as this device."""
        return {
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "XDG_DATA_HOME": str(self.root / "data"),
            "XDG_CACHE_HOME": str(self.root / "cache"),
            "TOKSCOPE_SHARED": self.side.url,
            **self.side.env,
        }

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Run the block as this device (environment swapped, then restored)."""
        saved = {k: os.environ.get(k) for k in _ENV_KEYS}
        os.environ.update(self.env)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def cli(self, *args: str, answer: str | None = "y") -> tuple[int, str, str]:
        """``tokscope ARGS`` in this process as this device: (status, stdout, stderr).

        Standard input is a terminal where a person types ``answer`` (``devices trust`` asks them to
        confirm the fingerprint); ``answer=None``: no terminal, as in a script.
        """
        out, err = io.StringIO(), io.StringIO()
        stdin = _Terminal(f"{answer}\n") if answer is not None else io.StringIO()
        with self.active(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _stdin(stdin):
            try:
                code = main(list(args))
            except SystemExit as exc:
                code = int(exc.code or 0)
        return code, out.getvalue(), err.getvalue()

    def ok(self, *args: str) -> str:
        """``tokscope ARGS`` that must succeed; its stdout."""
        code, out, err = self.cli(*args)
        assert code == 0, f"tokscope {' '.join(args)} -> {code}\n{out}\n{err}"
        assert "merge failed" not in err, err  # the merge's last-resort fallback must never be needed
        return out

    def json(self, *args: str) -> Any:
        """``tokscope ARGS --format json`` parsed."""
        return json.loads(self.ok(*args, "--format", "json"))

    def subprocess(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
        """``python -m tokscope ARGS`` in a child process as this device."""
        env = {**os.environ, **self.env}
        return subprocess.run(
            [sys.executable, "-m", "tokscope", *args], env=env, capture_output=True, text=True, **kwargs
        )

    def turns(self, session: str, count: int, *, month: int = 1, start: int = 0, cwd: str = "/home/u/proj") -> None:
        """Append ``count`` assistant turns (TURN_* tokens each) to a Claude Code transcript of this device.

        Turn ``i`` has message id ``msg_<session>_<i>`` and falls on day 15 of ``month`` 2026.
        """
        folder = self.home / ".claude" / "projects" / cwd.replace("/", "-")
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"{session}.jsonl").open("a", encoding="utf-8") as fh:
            for i in range(start, start + count):
                line = {
                    "type": "assistant",
                    "timestamp": f"2026-{month:02d}-15T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
                    "sessionId": session,
                    "requestId": f"req_{session}_{i}",
                    "cwd": cwd,
                    "message": {
                        "id": f"msg_{session}_{i}",
                        "model": "claude-sonnet-4-5",
                        "usage": {
                            "input_tokens": TURN_INPUT,
                            "output_tokens": TURN_OUTPUT,
                            "cache_read_input_tokens": TURN_CACHE_READ,
                        },
                    },
                }
                fh.write(json.dumps(line) + "\n")

    @property
    def id(self) -> str:
        """This device's id (creates the identity on first use)."""
        return self.json("devices", "show")["id"]

    @property
    def folder(self) -> Path:
        """This device's folder in the shared folder."""
        return self.shared / self.id

    def by_device(self, *extra: str) -> dict[str, dict[str, Any]]:
        """``report --by device --period all`` rows keyed by device name."""
        data = self.json("report", "--by", "device", "--period", "all", *extra)
        return {row["device_name"]: row for row in data["rows"]}

    def status(self) -> dict[str, dict[str, Any]]:
        """``devices --format json`` keyed by device name."""
        return {d["name"]: d for d in self.json("devices")}


def make_devices(tmp: Path, *labels: str, side: Side | None = None) -> list[Dev]:
    """Devices named after ``labels`` sharing ``tmp/shared`` (or ``side``), each renamed to its label."""
    shared = tmp / "shared"
    devs = [Dev(tmp, shared, label, side) for label in labels]
    for dev in devs:
        dev.ok("devices", "rename", dev.label)
    return devs


def main_quiet(args: list[str]) -> dict[str, dict[str, Any]]:
    """``tokscope report … --format json`` in the current environment: rows keyed by device name."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(args) == 0
    return {row["device_name"]: row for row in json.loads(out.getvalue())["rows"]}


def publish(
    dev: Dev,
    frames: list[Any],
    *,
    sequence: int | None = None,
    edit: Any = None,
) -> dict[str, Any]:
    """Write ``frames`` (Polars frames, one month file each) into ``dev``'s folder as a snapshot that
    ``dev``'s own key signs, as a hostile or buggy tokscope on that device could; returns the manifest.

    ``edit`` may change the manifest dict before it is signed.
    """
    import hashlib

    from tokscope.sync import snapshot

    with dev.active():
        ident = snapshot.load_identity()
        entries = []
        dev.folder.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(frames):
            buf = io.BytesIO()
            frame.write_parquet(buf)
            data = buf.getvalue()
            sha = hashlib.sha256(data).hexdigest()
            name = f"events-2026-{i + 1:02d}-{sha[:12]}.parquet"
            (dev.folder / name).write_bytes(data)
            entries.append({"name": name, "month": f"2026-{i + 1:02d}", "sha256": sha, "bytes": len(data)})
            entries[-1] |= {"rows": frame.height, "first_ts": None, "last_ts": None}
        try:
            last = int(json.loads((dev.folder / snapshot.MANIFEST).read_bytes())["sequence"])
        except (OSError, ValueError, KeyError, TypeError):
            last = 0
        seq = sequence if sequence is not None else last + 1
        raw = snapshot.build_manifest(ident, seq, entries, False, "2026-11-23T00:00:00+00:00")
        manifest = json.loads(raw)
        if edit is not None:
            edit(manifest)
            raw = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
        (dev.folder / snapshot.SIGNATURE).write_bytes(snapshot.build_signature(ident, raw, seq))
        (dev.folder / snapshot.MANIFEST).write_bytes(raw)
    return manifest


def month_frame(dev: Dev) -> Any:
    """``dev``'s first exported month file as a Polars frame (the event schema)."""
    import polars as pl

    manifest = json.loads((dev.folder / "manifest.json").read_bytes())
    return pl.read_parquet(dev.folder / manifest["files"][0]["name"])
