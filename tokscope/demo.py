"""``tokscope demo``: the TUI on generated data, in a temporary directory.

Three devices (this "laptop", a "studio" and a "build-box" whose snapshot is
refused for a bad signature), several clients and models, 60 days of turns.
This device's Claude Code turns are real JSONL transcripts under a temporary
HOME, so the live path is the real one: every few seconds a turn is appended
to a transcript, the watcher sees it, the scan reads it and the screen updates.
Nothing outside the temporary directory is read or written.
"""

from __future__ import annotations

import json
import os
import random
import signal
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tokscope.readers.base import Row

#: The fixed identities of the demo's devices (ids are stable so screenshots are).
LAPTOP = ("6f1c2a9e-3b47-4d2a-9c1e-0a8b7d5e4f31", "laptop")
STUDIO = ("b2d84e17-9a3c-4f60-8e25-71c9d03a6b58", "studio")
BUILD_BOX = ("e9a05c3d-1f82-4b7e-a6d4-3c58b2f1e097", "build-box")

#: The clock of deterministic runs (tests, screenshots).
FIXED_NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)

WORKSPACES = ("/home/dev/tokscope", "/home/dev/webshop", "/home/dev/infra", "/home/dev/notes")

#: (client, provider, model, weight) per device.
MIX: dict[str, tuple[tuple[str, str, str, float], ...]] = {
    "laptop-claude": (
        ("claude-code", "anthropic", "claude-sonnet-4-5-20250929", 0.6),
        ("claude-code", "anthropic", "claude-opus-4-1-20250805", 0.15),
        ("claude-code", "anthropic", "claude-haiku-4-5-20251001", 0.25),
    ),
    "laptop-other": (
        ("codex", "openai", "gpt-5-codex", 0.7),
        ("codex", "openai", "gpt-5", 0.3),
    ),
    "studio": (
        ("claude-code", "anthropic", "claude-sonnet-4-5-20250929", 0.4),
        ("gemini-cli", "google", "gemini-2.5-pro", 0.35),
        ("opencode", "anthropic", "claude-sonnet-4-5-20250929", 0.1),
        ("opencode", "openai", "gpt-5-mini", 0.15),
    ),
    "build-box": (("codex", "openai", "gpt-5-codex", 1.0),),
}


@dataclass
class Demo:
    """A built demo: where things are and how to make it live."""

    home: Path
    shared: Path
    ledger_root: Path
    today: date
    live_file: Path
    """The transcript the live turns are appended to."""
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    live_turns: int = 0

    def append_turn(self, now: datetime | None = None) -> None:
        """Append one assistant turn to the live transcript (what an agent would do)."""
        now = now or datetime.now(UTC)
        self.live_turns += 1
        line = _claude_line(
            self.rng,
            now,
            session=self.live_file.stem,
            cwd=WORKSPACES[0],
            model="claude-sonnet-4-5-20250929",
            key=f"msg_live_{self.live_turns}_{self.rng.getrandbits(32):08x}",
        )
        with self.live_file.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def _tokens(rng: random.Random, scale: float = 1.0) -> dict[str, int]:
    return {
        "input": int(rng.lognormvariate(6.0, 1.0) * scale),
        "output": int(rng.lognormvariate(6.8, 0.9) * scale),
        "cache_read": int(rng.lognormvariate(10.6, 0.7) * scale),
        "cache_write": int(rng.lognormvariate(8.2, 1.0) * scale),
    }


def _claude_line(rng: random.Random, ts: datetime, *, session: str, cwd: str, model: str, key: str) -> str:
    t = _tokens(rng)
    one_hour = t["cache_write"] // 4 if rng.random() < 0.3 else 0
    return json.dumps(
        {
            "type": "assistant",
            "timestamp": ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "sessionId": session,
            "requestId": "req_" + key,
            "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
            "cwd": cwd,
            "message": {
                "id": key,
                "model": model,
                "usage": {
                    "input_tokens": t["input"],
                    "output_tokens": t["output"],
                    "cache_read_input_tokens": t["cache_read"],
                    "cache_creation_input_tokens": t["cache_write"],
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": t["cache_write"] - one_hour,
                        "ephemeral_1h_input_tokens": one_hour,
                    },
                },
            },
        },
        separators=(",", ":"),
    )


def _pick(rng: random.Random, mix: tuple[tuple[str, str, str, float], ...]) -> tuple[str, str, str]:
    choice = rng.choices(mix, weights=[m[3] for m in mix])[0]
    return choice[0], choice[1], choice[2]


def _sessions(rng: random.Random, today: date, days: int, per_day: float, device: str):
    """(day, session id, start datetime, workspace, turns) for each generated session."""
    for back in range(days - 1, -1, -1):
        day = today - timedelta(days=back)
        weekday = day.weekday() < 5
        count = max(0, int(rng.gauss(per_day if weekday else per_day / 3, 1.0)))
        for _ in range(count):
            start = datetime(day.year, day.month, day.day, rng.randint(8, 21), rng.randint(0, 59), tzinfo=UTC)
            session = str(uuid.UUID(int=rng.getrandbits(128)))
            yield day, session, start, rng.choice(WORKSPACES), rng.randint(3, 14)


def _event_rows(
    rng: random.Random, today: date, days: int, per_day: float, mix_name: str, device: str, until: datetime | None
) -> list[Row]:
    rows = []
    for _day, session, start, workspace, turns in _sessions(rng, today, days, per_day, device):
        client, provider, model = _pick(rng, MIX[mix_name])
        ts = start
        for i in range(turns):
            ts += timedelta(seconds=rng.randint(20, 400))
            if until is not None and ts > until:
                break
            t = _tokens(rng, 1.3 if client == "codex" else 1.0)
            reasoning = int(t["output"] * 0.4) if client in ("codex", "gemini-cli") else 0
            rows.append(
                Row(
                    client=client,
                    provider=provider,
                    model=model,
                    workspace=workspace,
                    session_id=session,
                    agent=None,
                    event_key=f"{device}:{session}:{i}",
                    ts=int(ts.timestamp() * 1_000_000),
                    input=t["input"],
                    output=t["output"],
                    reasoning=reasoning,
                    cache_read=t["cache_read"],
                    cache_write_5m=t["cache_write"],
                    rank=1,
                )
            )
    return rows


def build_demo(
    home: Path, shared: Path, today: date, *, seed: int = 7, days: int = 60, until: datetime | None = None
) -> Demo:
    """Write the demo's data under ``home`` (transcripts, ledger, device identity) and ``shared``.

    The caller points HOME / XDG_* at ``home`` first (``demo_env``), so every
    platformdirs path and every reader root is inside it. ``until`` (the live demo's
    now) cuts the turns and exports that would lie in the future; without it the whole
    last day is generated, the same at any hour (screenshots, snapshot tests).
    """
    from tokscope.events import frame_from_rows
    from tokscope.ledger import Ledger
    from tokscope.scan import scan
    from tokscope.sync.identity import Device, save_device

    rng = random.Random(seed)
    save_device(Device(id=LAPTOP[0], name=LAPTOP[1]))
    shared.mkdir(parents=True, exist_ok=True)
    projects = home / ".claude" / "projects"
    live_file = None
    for day, session, start, workspace, turns in _sessions(rng, today, days, 3.0, "laptop"):
        folder = projects / workspace.replace("/", "-").replace(".", "-")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{session}.jsonl"
        ts = start
        lines = []
        for i in range(turns):
            ts += timedelta(seconds=rng.randint(20, 400))
            if until is not None and ts > until:
                break
            _client, _provider, model = _pick(rng, MIX["laptop-claude"])
            lines.append(
                _claude_line(rng, ts, session=session, cwd=workspace, model=model, key=f"msg_{session[:8]}_{i}")
            )
        if lines:  # a session of today that starts after ``until`` is not written (the live turns may go there)
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        if day == today or live_file is None:
            live_file = path
    assert live_file is not None
    ledger_root = home / ".local" / "share" / "tokscope" / "ledger"
    ledger = Ledger(ledger_root)
    # this device's Codex turns go straight into the ledger (as if scanned earlier)
    codex_rows = _event_rows(rng, today, days, 1.5, "laptop-other", "laptop", until)
    with ledger.lock():
        state = ledger.load_state()
        ledger.append(frame_from_rows(codex_rows), state)
        ledger.save_state(state)
    scan(ledger=ledger)
    _demo_limits(ledger_root, home, today, until)

    studio_rows = _event_rows(rng, today, days, 2.5, "studio", "studio", until)
    box_rows = _event_rows(rng, today, days, 1.0, "build-box", "build-box", until)
    exported_at = datetime.combine(today, datetime.min.time(), UTC) + timedelta(hours=14, minutes=52)
    if until is not None:
        exported_at = min(exported_at, until - timedelta(minutes=38))  # this device exported 30 min later
    # signed snapshots in the shared folder, merged by load_usage like any other device's
    export, pin, identity_of = _devices_feature()
    others = shared.parent / "other-devices"
    for (device_id, name), rows, when in (
        (STUDIO, studio_rows, exported_at),
        (BUILD_BOX, box_rows, exported_at - timedelta(days=2, hours=3)),
    ):
        their_ledger = Ledger(others / name)
        with their_ledger.lock():
            state = their_ledger.load_state()
            their_ledger.append(frame_from_rows(rows), state)
            their_ledger.save_state(state)
        ident = identity_of(device_id, name)
        export(shared, ledger=their_ledger, identity=ident)
        pin(device_id, name, ident.public_key_text)
        # a bad signature: build-box's manifest signed by some other key
        signer = identity_of(device_id, name + "-impostor") if name == "build-box" else ident
        _resign(shared / device_id, signer, when)
    me = identity_of(LAPTOP[0], LAPTOP[1], install=True)
    export(shared, ledger=ledger, identity=me)
    _resign(shared / LAPTOP[0], me, exported_at + timedelta(minutes=30))
    return Demo(
        home=home, shared=shared, ledger_root=ledger_root, today=today, live_file=live_file, rng=random.Random(seed + 1)
    )


def _demo_limits(ledger_root: Path, home: Path, today: date, until: datetime | None) -> None:
    """Official limit readings as Codex rollouts and Claude Code's statusLine would leave them: a Codex
    account climbing through its 5-hour window, a Claude account high in its week."""
    from tokscope import quota
    from tokscope.readers.base import QuotaSample

    last = datetime.combine(today, datetime.min.time(), UTC) + timedelta(hours=15, minutes=20)
    if until is not None:
        last = min(last, until - timedelta(minutes=2))

    def us(when: datetime) -> int:
        return int(when.timestamp() * 1_000_000)

    five_reset = us(last + timedelta(hours=2, minutes=25))
    week_reset = us(last + timedelta(days=2, hours=17, minutes=40))
    readings = []
    for minutes_ago, five in ((80, 31.0), (50, 44.0), (20, 55.0), (0, 62.0)):
        seen = us(last - timedelta(minutes=minutes_ago))
        for window, used, resets, length in (("five_hour", five, five_reset, 300), ("weekly", 38.0, week_reset, 10080)):
            readings.append(
                QuotaSample("codex", str(home / ".codex"), window, used, seen, resets, "codex", length, "plus")
            )
    seen = us(last - timedelta(minutes=6))
    readings.append(QuotaSample("claude-code", str(home / ".claude"), "five_hour", 24.0, seen, five_reset, "", 300))
    readings.append(QuotaSample("claude-code", str(home / ".claude"), "weekly", 71.0, seen, week_reset, "", 10080))
    quota.record(readings, ledger_root)


def _devices_feature() -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """``(export, pin, identity_of)``: the devices feature's export and trust, and demo identities."""
    import hashlib

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tokscope.fsutil import atomic_write
    from tokscope.sync import identity as identity_mod
    from tokscope.sync.snapshot import export
    from tokscope.sync.trust import pin

    def identity_of(device_id: str, name: str, install: bool = False) -> Any:
        """A deterministic key per demo device (stable fingerprints); ``install`` makes it this device's."""
        key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"tokscope-demo:{name}".encode()).digest())
        if install:
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            atomic_write(identity_mod.key_path(), pem)
            identity_mod.key_path().chmod(0o600)
        return identity_mod.Identity(device=identity_mod.Device(id=device_id, name=name), private_key=key)

    return export, pin, identity_of


def _resign(folder: Path, signer: Any, created_at: datetime) -> None:
    """Give a snapshot a fixed export time (stable screenshots) and sign it with ``signer``."""
    from tokscope.fsutil import atomic_write
    from tokscope.sync.snapshot import MANIFEST, SIGNATURE, build_signature

    manifest = json.loads((folder / MANIFEST).read_bytes())
    manifest["created_at"] = created_at.isoformat(timespec="seconds")
    data = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    atomic_write(folder / SIGNATURE, build_signature(signer, data, int(manifest["sequence"])))
    atomic_write(folder / MANIFEST, data)


#: The XDG base dirs the demo points into its own HOME (the rest of XDG_* is cleared).
_XDG = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")


def _cleared() -> tuple[str, ...]:
    """What the demo unsets so nothing of the user's is read: every variable a reader declares,
    tokscope's own settings and the XDG dirs it does not set."""
    from tokscope.config import ENV
    from tokscope.readers import reader_env

    return (*reader_env(), *ENV, "XDG_STATE_HOME")


def demo_env(root: Path) -> dict[str, str]:
    """Point HOME and XDG_* at ``root`` (and clear the agents' own overrides); return the old values."""
    cleared = _cleared()
    old = {k: os.environ.get(k, "") for k in ("HOME", *_XDG, *cleared)}
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(home)
    os.environ["XDG_CONFIG_HOME"] = str(home / ".config")
    os.environ["XDG_DATA_HOME"] = str(home / ".local" / "share")
    os.environ["XDG_CACHE_HOME"] = str(home / ".cache")
    for name in cleared:
        os.environ.pop(name, None)
    return old


#: The demo's budgets (what ``[[budget]]`` tables in config.toml give): its Alerts tab has something to show.
DEMO_BUDGETS = (
    {"name": "claude per day", "amount": 1.5, "period": "day", "client": "claude-code"},
    {"name": "month", "amount": 50.0, "period": "month"},
)


def demo_app(
    demo: Demo, *, clock: Callable[[], datetime] | None = None, live: bool = True, tick: bool = True, **kwargs: Any
):
    """The app on a built demo."""
    from tokscope.config import Config
    from tokscope.ledger import Ledger
    from tokscope.tui.app import make_app
    from tokscope.tui.view import utc_now

    settings = Config(
        shared_folder=demo.shared,
        timezone="UTC",
        export_debounce=10.0,
        extra={"budget": [dict(b) for b in DEMO_BUDGETS]},
    )
    return make_app(
        settings,
        ledger=Ledger(demo.ledger_root),
        shared=demo.shared,
        clock=clock or utc_now,
        tz="UTC",
        live=live,
        tick=demo.append_turn if tick else None,
        tick_interval=3.0,
        banner="demo",
        **kwargs,
    )


class _Hangup:
    """SIGTERM and SIGHUP (a closed tmux pane) end the demo like q does, so its temporary directory is
    removed: the running app is asked to exit (an exception raised inside Textual's loop may be
    swallowed there), and before or after it, ``SystemExit``. The exit status is 128 + the signal."""

    def __init__(self) -> None:
        self.app: Any = None
        self.code: int | None = None

    def __enter__(self) -> _Hangup:
        self.previous = {sig: signal.signal(sig, self.leave) for sig in (signal.SIGTERM, signal.SIGHUP)}
        return self

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def leave(self, signum: int, _frame: object) -> None:
        self.code = 128 + signum
        if self.app is not None and self.app.is_running:
            try:
                self.app.exit(return_code=self.code)
                return
            except Exception:  # the app is between states (starting, closing): leave the hard way
                pass
        raise SystemExit(self.code)


def run_demo(days: int = 60, interval: float = 3.0) -> int:
    """``tokscope demo``: build the demo in a temporary directory and run the app on it."""
    with tempfile.TemporaryDirectory(prefix="tokscope-demo-") as tmp, _Hangup() as hangup:
        root = Path(tmp)
        old = demo_env(root)
        try:
            now = datetime.now(UTC)
            demo = build_demo(root / "home", root / "shared", now.date(), days=days, until=now)
            app = demo_app(demo)
            app.tick_interval = interval
            hangup.app = app
            app.run()
            hangup.app = None
        finally:
            for key, value in old.items():
                if value:
                    os.environ[key] = value
                else:
                    os.environ.pop(key, None)
    return hangup.code or 0
