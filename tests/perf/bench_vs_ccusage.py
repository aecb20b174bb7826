"""tokscope against ccusage 20.0.24 (native) on a history of the real shape (issue 13).

    python tests/perf/bench_vs_ccusage.py --scale 0.1 --rounds 3
    python tests/perf/bench_vs_ccusage.py --scale 1 --rounds 5 --keep /tmp/shape   # the issue's size

Generates (``realshape.generate``) two HOMEs: Claude Code + Codex, and the same
files (hard links) plus OpenCode's legacy JSON tree. ccusage is installed from
npm into ``~/.cache/tokscope-bench/ccusage-20.0.24`` (the linux-x64 binary
ships in ``@ccusage/ccusage-linux-x64``; ``ccusage@latest`` has none). Cold runs
alternate tokscope / ccusage in every round; each row prints the median and the
per-pair ratios. Wall is process start to exit; CPU and peak RSS come from
``wait4`` (children included). The load average is printed with the figures.

Rows: cold (``tokscope report --period all --format json`` with an empty ledger
against ``ccusage daily --json --offline``) for both HOMEs, no-change rescan,
one appended turn, ``tokscope statusline`` on a few-hundred-file HOME and on the
full one, and peak RSS. ``--tui`` / ``--merge`` add bench_tui.py / bench_merge.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from realshape import generate, opencode_tree

CCUSAGE_VERSION = "20.0.24"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tokscope-bench"
TARGETS = {  # row -> (limit, unit): ratio to ccusage, or seconds
    "cold, Claude+Codex": (0.5, "x"),
    "cold, all clients": (0.75, "x"),
    "no-change rescan": (0.08, "s"),
    "one appended turn": (0.10, "s"),
    "statusline, small HOME": (0.05, "s"),
    "statusline, full HOME": (0.10, "s"),
    "peak RSS, all clients": (1.0, "x"),
}


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float
    out: str


def ccusage_binary() -> Path:
    """The native ccusage binary, installed from npm into the cache on first use."""
    prefix = CACHE / f"ccusage-{CCUSAGE_VERSION}"
    binary = prefix / "node_modules" / "@ccusage" / "ccusage-linux-x64" / "bin" / "ccusage"
    if not binary.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(prefix),
                f"@ccusage/ccusage-linux-x64@{CCUSAGE_VERSION}",
            ],
            check=True,
            capture_output=True,
        )
    binary.chmod(0o755)  # the tarball ships it without the executable bit
    return binary


def env_for(home: Path) -> dict[str, str]:
    """The environment with HOME replaced and every client/XDG override removed."""
    drop = ("XDG_", "CLAUDE_", "CODEX_", "CODE_HOME", "OPENCODE", "GEMINI", "TOKSCOPE", "KIMI", "PI_", "QWEN")
    # an installed tokscope has its bytecode cached; without it every start compiles ~300 modules
    drop += ("PYTHONDONTWRITEBYTECODE",)
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, "HOME": str(home), "NO_COLOR": "1", "TZ": "UTC"}


def run(cmd: list[str], home: Path) -> Run:
    """Run ``cmd`` to completion; wall, CPU (user+sys, children included) and peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env_for(home), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read() if proc.stdout else b""
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{cmd} exited {proc.returncode}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.decode())


#: The command that starts tokscope: this interpreter's module by default, or (``--installed``) the
#: console script of a regular, non-editable install, as users run it.
TOKSCOPE: list[str] = [sys.executable, "-m", "tokscope"]


def tokscope(*args: str) -> list[str]:
    return [*TOKSCOPE, *args]


def installed_tokscope() -> list[str]:
    """``tokscope`` from a virtualenv in the cache holding a regular install of this checkout (an
    editable install adds its import-hook finder, ~20 ms, to every start)."""
    repo = Path(__file__).resolve().parents[2]
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    venv = CACHE / f"venv-{head.stdout.strip() or 'work'}"
    script = venv / "bin" / "tokscope"
    if not script.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        with tempfile.TemporaryDirectory() as build:  # build from a copy: no build/ left in the checkout
            subprocess.run(
                ["git", "-C", str(repo), "worktree", "add", "--detach", f"{build}/src"], check=True, capture_output=True
            )
            try:
                subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"{build}/src"], check=True)
            finally:
                subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", f"{build}/src"], check=False)
    return [str(script)]


def settle() -> None:
    """Wait out the scan seal's racy window (``scan_seal.RACY_NS``): the set-up scan just made
    tokscope's own folders in HOME, and a folder changed less than 2 s ago is never sealed. A
    statusline runs for hours after its first scan; its first 2 s are not the steady state."""
    time.sleep(2.5)


def fresh_ledger(home: Path) -> None:
    shutil.rmtree(home / ".local" / "share" / "tokscope", ignore_errors=True)


def append_turn(home: Path, n: int) -> None:
    """One more complete Claude Code turn at the end of the first session file."""
    victim = sorted((home / ".claude" / "projects").glob("*/*.jsonl"))[0]
    line = {
        "type": "assistant",
        "timestamp": "2026-11-28T10:00:00Z",
        "sessionId": victim.stem,
        "requestId": f"req_bench{n}_{time.time_ns()}",
        "cwd": "/home/alice/src/x",
        "message": {
            "id": f"msg_bench{n}_{time.time_ns()}",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "x" * 900}],
            "usage": {"input_tokens": 5, "output_tokens": 7},
        },
    }
    with victim.open("a") as fh:
        fh.write(json.dumps(line, separators=(",", ":")) + "\n")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def show(row: str, ours: list[float], theirs: list[float] | None = None, unit: str = "s") -> bool:
    """Print one row (median, per-pair ratios, target); return whether the target is met."""
    limit, kind = TARGETS.get(row, (None, unit))
    fmt = (lambda v: f"{v:.3f} s") if unit == "s" else (lambda v: f"{v:.0f} MB")
    line = f"{row:26} tokscope {fmt(statistics.median(ours))}"
    met = True
    if theirs:
        ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
        ratio = statistics.median(ratios)
        pairs = " ".join(f"{r:.2f}" for r in ratios)
        line += f"  ccusage {fmt(statistics.median(theirs))}  ratio {ratio:.2f}x  pairs {pairs}"
        if kind == "x" and limit is not None:
            met = ratio <= limit
            line += f"  target <= {limit}x"
    elif limit is not None:
        met = statistics.median(ours) <= limit
        line += f"  runs {' '.join(f'{v:.3f}' for v in ours)}  target <= {limit} s"
    verdict = "" if limit is None else ("  MET" if met else "  NOT MET")
    print(f"{line}{verdict}  (load {load()})", flush=True)
    return met


def cold(home: Path, ccusage: Path, rounds: int, label: str) -> list[Run]:
    """Alternating cold runs; print wall and CPU rows; return tokscope's runs."""
    ours: list[Run] = []
    theirs: list[Run] = []
    for i in range(rounds):
        for who in "tc" if i % 2 == 0 else "ct":
            if who == "t":
                fresh_ledger(home)
                ours.append(run(tokscope("report", "--period", "all", "--format", "json", "--tz", "UTC"), home))
            else:
                theirs.append(run([str(ccusage), "daily", "--json", "--offline"], home))
    met = show(f"cold, {label}", [r.wall for r in ours], [r.wall for r in theirs])
    show(f"  CPU, {label}", [r.cpu for r in ours], [r.cpu for r in theirs])
    met &= show(f"peak RSS, {label}", [r.rss_mb for r in ours], [r.rss_mb for r in theirs], unit="MB")
    ours_total = json.loads(ours[-1].out)["totals"]
    theirs_total = json.loads(theirs[-1].out).get("totals", {})
    print(
        f"  totals: tokscope {ours_total.get('total_tokens'):,} tokens / {ours_total.get('turns'):,} turns; "
        f"ccusage {theirs_total.get('totalTokens')} tokens"
    )
    return met


def rescans(home: Path, rounds: int) -> bool:
    run(tokscope("scan", "--quiet"), home)
    settle()
    run(tokscope("scan", "--quiet"), home)
    same = [run(tokscope("scan", "--quiet"), home).wall for _ in range(rounds)]
    met = show("no-change rescan", same)
    grown = []
    for i in range(rounds):
        append_turn(home, i)
        grown.append(run(tokscope("scan", "--quiet"), home).wall)
    met &= show("one appended turn", grown)
    return met


def statusline(home: Path, rounds: int, label: str) -> bool:
    """Nothing new since the last scan: the answer for today is already in the summary."""
    run(tokscope("scan", "--quiet"), home)
    settle()
    run(tokscope("statusline"), home)
    return show(f"statusline, {label}", [run(tokscope("statusline"), home).wall for _ in range(rounds)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.1, help="1.0 = the issue's 448 MB / 7,279 + 26,000 files")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this directory")
    parser.add_argument("--no-ccusage", action="store_true", help="measure tokscope only")
    parser.add_argument("--tui", action="store_true", help="also run bench_tui.py (1 M events)")
    parser.add_argument("--merge", action="store_true", help="also run bench_merge.py (200 devices x 100 k)")
    parser.add_argument("--installed", action="store_true", help="run a regular (non-editable) install, as users do")
    args = parser.parse_args()
    if args.installed:
        TOKSCOPE[:] = installed_tokscope()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        main_home, all_home, small_home = root / "cc", root / "all", root / "small"
        if not main_home.exists():
            t = time.perf_counter()
            shape = generate(main_home, args.scale, opencode=False)
            subprocess.run(["cp", "-al", str(main_home), str(all_home)], check=True)
            oc_files, oc_bytes = opencode_tree(all_home, args.scale)
            generate(small_home, 0.04, opencode=False, seed=15)
            print(
                f"generated {shape.files:,} files / {shape.bytes / 1e6:.0f} MB Claude+Codex, "
                f"+{oc_files:,} OpenCode files / {oc_bytes / 1e6:.0f} MB "
                f"in {time.perf_counter() - t:.0f} s",
                flush=True,
            )
        ccusage = None if args.no_ccusage else ccusage_binary()
        print(f"cpus {os.cpu_count()}, load {load()}, ccusage {CCUSAGE_VERSION if ccusage else 'not run'}", flush=True)
        met = True
        if ccusage:
            met &= cold(main_home, ccusage, args.rounds, "Claude+Codex")
            met &= cold(all_home, ccusage, args.rounds, "all clients")
        else:
            for home, label in ((main_home, "Claude+Codex"), (all_home, "all clients")):
                walls = []
                for _ in range(args.rounds):
                    fresh_ledger(home)
                    walls.append(run(tokscope("report", "--period", "all", "--format", "json"), home).wall)
                show(f"cold, {label} (alone)", walls)
        met &= rescans(main_home, args.rounds)
        met &= statusline(small_home, args.rounds, "small HOME")
        met &= statusline(main_home, args.rounds, "full HOME")
        here = Path(__file__).parent
        if args.tui:
            subprocess.run([sys.executable, str(here / "bench_tui.py"), "--events", "1000000", "--idle", "1"])
        if args.merge:
            subprocess.run([sys.executable, str(here / "bench_merge.py"), "--devices", "200", "--events", "100000"])
        print("all targets met" if met else "some targets not met", flush=True)


if __name__ == "__main__":
    main()
