"""A HOME in the shape of a real history: thousands of small session files.

Scale 1.0 is the shape of issue 13: about 448 MB of Claude Code + Codex in
about 7,300 files (1-3 KB per line, Claude subagent transcripts with their
``.meta.json``, Codex rollouts by day) and OpenCode's legacy JSON tree (about
25,000 message files plus session files). Deterministic for a given seed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from bench_scan import claude_session, codex_session, text

#: Claude Code + Codex at scale 1.0 (issue 13's measured history).
MAIN_BYTES = 448_000_000
MAIN_FILES = 7_279
#: OpenCode legacy message files at scale 1.0 (34,039 - 7,279 files, 111 MB).
OPENCODE_FILES = 26_000
OPENCODE_BYTES = 111_000_000


@dataclass
class Shape:
    """What ``generate`` wrote."""

    files: int = 0
    bytes: int = 0
    opencode_files: int = 0
    opencode_bytes: int = 0


def _compact(path: Path) -> int:
    """Rewrite a generated JSONL file the way the clients write it (no spaces after separators:
    ccusage's line filter looks for ``"type":"assistant"``); return its new size."""
    lines = [json.dumps(json.loads(raw), separators=(",", ":")) for raw in path.read_text().splitlines()]
    data = "\n".join(lines) + "\n"
    path.write_text(data)
    return len(data)


def _subagent(rng: random.Random, session_file: Path, day: int) -> int:
    """A subagent transcript (and its meta sidecar) under ``<session>/subagents/``; return bytes written."""
    folder = session_file.with_suffix("") / "subagents"
    folder.mkdir(parents=True, exist_ok=True)
    agent = f"{rng.getrandbits(32):08x}"
    path = folder / f"agent-{agent}.jsonl"
    claude_session(rng, path, rng.randint(2, 8), day)
    # mark every line as a sidechain of the parent session, as Claude Code writes it
    parent = session_file.stem
    lines = []
    for raw in path.read_text().splitlines():
        line = json.loads(raw)
        line.update(isSidechain=True, sessionId=parent, agentId=agent)
        lines.append(json.dumps(line, separators=(",", ":")))
    data = "\n".join(lines) + "\n"
    path.write_text(data)
    meta = json.dumps({"agentType": rng.choice(["Explore", "general-purpose", "code-reviewer"])})
    (folder / f"agent-{agent}.meta.json").write_text(meta)
    return len(data) + len(meta)


def _opencode(rng: random.Random, home: Path, files: int, target: int) -> tuple[int, int]:
    """OpenCode's legacy storage tree: ``storage/session/<project>/<ses>.json`` and
    ``storage/message/<ses>/<msg>.json`` (half user, half assistant messages)."""
    storage = home / ".local" / "share" / "opencode" / "storage"
    per_file = max(target // max(files, 1), 400)
    written = count = 0
    n_session = 0
    while count < files:
        n_session += 1
        ses = f"ses_{rng.getrandbits(64):016x}"
        project = f"{n_session % 23:040x}"
        session_dir = storage / "session" / project
        session_dir.mkdir(parents=True, exist_ok=True)
        cwd = f"/home/alice/src/app{n_session % 23}"
        body = json.dumps(
            {
                "id": ses,
                "projectID": project,
                "directory": cwd,
                "title": text(rng, 60),
                "time": {"created": 1763900000000 + n_session * 1000, "updated": 1763900000000},
            }
        )
        (session_dir / f"{ses}.json").write_text(body)
        written += len(body)
        message_dir = storage / "message" / ses
        message_dir.mkdir(parents=True, exist_ok=True)
        created = 1763900000000 + n_session * 600_000
        parent = None
        for m in range(rng.randint(6, 40)):
            created += rng.randint(2_000, 60_000)
            mid = f"msg_{rng.getrandbits(64):016x}"
            if m % 2 == 0:
                msg = {
                    "id": mid,
                    "sessionID": ses,
                    "role": "user",
                    "time": {"created": created},
                    "summary": {"title": text(rng, per_file // 2)},
                }
                parent = mid
            else:
                msg = {
                    "id": mid,
                    "sessionID": ses,
                    "role": "assistant",
                    "parentID": parent,
                    "time": {"created": created, "completed": created + 4000},
                    "modelID": "claude-sonnet-4-5",
                    "providerID": "anthropic",
                    "mode": "build",
                    "path": {"cwd": cwd, "root": cwd},
                    "cost": 0,
                    "tokens": {
                        "input": rng.randint(1, 900),
                        "output": rng.randint(20, 2500),
                        "reasoning": 0,
                        "cache": {"read": rng.randint(1000, 90_000), "write": 1200},
                    },
                    "system": [text(rng, per_file - 700)],
                }
            body = json.dumps(msg, separators=(",", ":"))
            (message_dir / f"{mid}.json").write_text(body)
            written += len(body)
            count += 1
            if count >= files:
                break
    return count, written


def generate(home: Path, scale: float = 1.0, opencode: bool = True, seed: int = 13) -> Shape:
    """Fill ``home`` with a history of the real shape at ``scale``."""
    rng = random.Random(seed)
    shape = Shape()
    target = int(MAIN_BYTES * scale)
    files = max(int(MAIN_FILES * scale), 4)
    turns = max(int(target / files / 6100), 1)  # calibrated: 448 MB at scale 1 gives about 7,300 files
    n = 0
    while shape.bytes < target:
        n += 1
        day = 1 + n % 27
        if n % 5 < 3:
            project = home / ".claude" / "projects" / f"-home-alice-src-proj{n % 41}"
            project.mkdir(parents=True, exist_ok=True)
            session = project / f"{rng.getrandbits(128):032x}.jsonl"
            claude_session(rng, session, rng.randint(1, 2 * turns), day)
            shape.bytes += _compact(session)
            shape.files += 1
            if n % 4 == 0:
                shape.bytes += _subagent(rng, session, day)
                shape.files += 1
        else:
            folder = home / ".codex" / "sessions" / "2026" / "11" / f"{day:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"rollout-2026-11-{day:02d}T09-00-00-{rng.getrandbits(64):016x}.jsonl"
            codex_session(rng, path, rng.randint(1, 3 * turns), day)
            shape.bytes += _compact(path)
            shape.files += 1
    if opencode:
        shape.opencode_files, shape.opencode_bytes = opencode_tree(home, scale, seed + 1)
    return shape


def opencode_tree(home: Path, scale: float = 1.0, seed: int = 14) -> tuple[int, int]:
    """Only OpenCode's legacy tree at ``scale``; return (files, bytes)."""
    return _opencode(random.Random(seed), home, int(OPENCODE_FILES * scale), int(OPENCODE_BYTES * scale))
