"""Scan benchmark: cold scan, no-change rescan, one appended turn, peak RSS.

Generates N MB of realistic Claude Code + Codex logs (1-2 KB lines with content,
streaming copies, tool results, token_count events) under a temporary HOME,
then times ``tokscope.scan.scan`` in a fresh process.

    python tests/perf/bench_scan.py --mb 500
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILLER = "The quick brown fox jumps over the lazy dog while the compiler reports nothing unusual. "


def text(rng: random.Random, size: int) -> str:
    """About ``size`` characters of prose with some JSON-hostile characters."""
    start = rng.randrange(len(FILLER))
    body = (FILLER * (size // len(FILLER) + 2))[start : start + size]
    return body.replace("nothing", 'nothing "quoted"\n\t')


def claude_session(rng: random.Random, path: Path, turns: int, day: int) -> int:
    """Write one Claude Code session of ``turns`` turns; return its size."""
    sid = f"{rng.getrandbits(64):016x}-sess"
    cwd = "/home/alice/src/" + path.parent.name.rsplit("-", 1)[-1]
    lines = []
    for t in range(turns):
        ts = f"2026-11-{day:02d}T{10 + t // 3600 % 12:02d}:{t // 60 % 60:02d}:{t % 60:02d}.000Z"
        lines.append(
            json.dumps(
                {
                    "type": "user",
                    "timestamp": ts,
                    "sessionId": sid,
                    "cwd": cwd,
                    "version": "2.0.14",
                    "uuid": f"u{t}",
                    "message": {"role": "user", "content": text(rng, rng.randint(900, 1700))},
                }
            )
        )
        msg_id = f"msg_{rng.getrandbits(80):020x}"
        usage = {
            "input_tokens": rng.randint(1, 500),
            "cache_read_input_tokens": rng.randint(10_000, 150_000),
            "cache_creation_input_tokens": 3000,
            "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
            "output_tokens": 1,
            "service_tier": "standard",
        }
        for copy in range(2):  # streaming: a partial copy, then the complete one
            if copy:
                usage = {**usage, "output_tokens": rng.randint(50, 3000)}
            lines.append(
                json.dumps(
                    {
                        "type": "assistant",
                        "timestamp": ts,
                        "sessionId": sid,
                        "cwd": cwd,
                        "version": "2.0.14",
                        "requestId": f"req_{msg_id[4:]}",
                        "uuid": f"a{t}{copy}",
                        "isSidechain": False,
                        "message": {
                            "id": msg_id,
                            "role": "assistant",
                            "model": "claude-sonnet-4-5-20250929",
                            "content": [{"type": "text", "text": text(rng, rng.randint(500, 1200))}],
                            "usage": usage,
                        },
                    }
                )
            )
        lines.append(
            json.dumps(
                {
                    "type": "user",
                    "timestamp": ts,
                    "sessionId": sid,
                    "cwd": cwd,
                    "uuid": f"r{t}",
                    "message": {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": text(rng, 1800)}],
                    },
                }
            )
        )
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(data)
    return len(data)


def codex_session(rng: random.Random, path: Path, turns: int, day: int) -> int:
    """Write one Codex rollout of ``turns`` turns; return its size."""
    sid = f"0199{rng.getrandbits(96):024x}"
    lines = [
        json.dumps(
            {
                "timestamp": f"2026-11-{day:02d}T09:00:00.000Z",
                "type": "session_meta",
                "payload": {"id": sid, "cwd": "/home/alice/src/api", "source": "cli", "model_provider": "openai"},
            }
        )
    ]
    total = [0, 0, 0, 0]
    for t in range(turns):
        ts = f"2026-11-{day:02d}T{9 + t // 3600 % 12:02d}:{t // 60 % 60:02d}:{t % 60:02d}.000Z"
        lines.append(
            json.dumps(
                {"timestamp": ts, "type": "turn_context", "payload": {"model": "gpt-5.3-codex", "cwd": "/home/alice"}}
            )
        )
        for _ in range(2):
            lines.append(
                json.dumps(
                    {
                        "timestamp": ts,
                        "type": "response_item",
                        "payload": {
                            "type": "message",
                            "role": "assistant",
                            "content": [{"type": "output_text", "text": text(rng, 1400)}],
                        },
                    }
                )
            )
        last = [rng.randint(10_000, 90_000), 0, rng.randint(100, 3000), 0]
        last[1] = last[0] * 8 // 10
        last[3] = last[2] // 3
        total = [a + b for a, b in zip(total, last, strict=True)]
        names = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")
        lines.append(
            json.dumps(
                {
                    "timestamp": ts,
                    "type": "event_msg",
                    "payload": {
                        "type": "token_count",
                        "info": {
                            "total_token_usage": dict(zip(names, total, strict=True)),
                            "last_token_usage": dict(zip(names, last, strict=True)),
                            "model_context_window": 272000,
                        },
                    },
                }
            )
        )
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(data)
    return len(data)


def generate(home: Path, megabytes: int, seed: int = 7) -> int:
    """Fill ``home`` with about ``megabytes`` MB of logs (60 % Claude, 40 % Codex)."""
    rng = random.Random(seed)
    target = megabytes * 1_000_000
    written = 0
    n = 0
    while written < target:
        n += 1
        day = 1 + n % 22
        if n % 5 < 3:
            project = home / ".claude" / "projects" / f"-home-alice-src-proj{n % 17}"
            project.mkdir(parents=True, exist_ok=True)
            written += claude_session(rng, project / f"session-{n}.jsonl", rng.randint(300, 700), day)
        else:
            folder = home / ".codex" / "sessions" / "2026" / "11" / f"{day:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            written += codex_session(rng, folder / f"rollout-{n}.jsonl", rng.randint(300, 700), day)
    return written


CHILD = """
import json, resource, sys, time
from tokscope.scan import scan
t = time.perf_counter()
s = scan()
wall = time.perf_counter() - t
rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({"wall": wall, "files": s.files, "events": s.events, "new": s.new_events, "bytes": s.bytes_read,
                  "skipped": s.skipped, "rss_mb": rss / 1024}))
"""


def run_scan(home: Path) -> dict:
    """Scan in a fresh interpreter (so RSS and imports are measured honestly)."""
    env = {**os.environ, "HOME": str(home)}
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "CLAUDE_CONFIG_DIR", "CODEX_HOME", "CODE_HOME"):
        env.pop(name, None)
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Generate, then measure cold, no-change and append-one-turn scans."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=500, help="megabytes of logs to generate")
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this HOME instead of a temp dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = args.keep or Path(tmp)
        if not (home / ".claude").exists():
            t = time.perf_counter()
            size = generate(home, args.mb)
            print(f"generated {size / 1e6:.0f} MB in {time.perf_counter() - t:.1f}s")
        else:
            size = sum(p.stat().st_size for p in home.rglob("*.jsonl"))
        ledger = home / ".local" / "share" / "tokscope"
        if ledger.exists():
            subprocess.run(["rm", "-rf", str(ledger)], check=True)
        cold = run_scan(home)
        mbps = size / 1e6 / cold["wall"]
        print(
            f"cold scan:      {cold['wall']:.2f}s  {mbps:.0f} MB/s  {cold['files']} files, {cold['events']:,} events, "
            f"peak RSS {cold['rss_mb']:.0f} MB"
        )
        again = run_scan(home)
        print(f"no-change scan: {again['wall'] * 1000:.0f} ms  (new {again['new']})")
        victim = next(iter(sorted((home / ".claude" / "projects").rglob("*.jsonl"))))
        rng = random.Random(time.time_ns())
        with victim.open("a") as fh:
            msg = f"msg_append{rng.getrandbits(40):x}"
            fh.write(
                json.dumps(
                    {
                        "type": "assistant",
                        "timestamp": "2026-11-23T10:00:00Z",
                        "sessionId": "x",
                        "requestId": "req_append",
                        "message": {
                            "id": msg,
                            "model": "claude-sonnet-4-5",
                            "content": [{"type": "text", "text": text(rng, 900)}],
                            "usage": {"input_tokens": 5, "output_tokens": 7},
                        },
                    }
                )
                + "\n"
            )
        appended = run_scan(home)
        print(f"append 1 turn:  {appended['wall'] * 1000:.0f} ms  (new {appended['new']})")


if __name__ == "__main__":
    main()
