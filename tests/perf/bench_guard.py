"""``tokscope guard`` as a Claude Code hook: launch to decision, target ≤ 50 ms (issue 16).

    python tests/perf/bench_guard.py --home /tmp/shape/cc --installed   # a real-shape HOME (bench_vs_ccusage --keep)
    python tests/perf/bench_guard.py                                     # a generated small HOME

Sets up budgets in the HOME's config.toml (the file is restored afterwards), evaluates them once
(``tokscope budgets --refresh``, as the statusline or a cron job would), then runs the guard with a
PreToolUse hook input on stdin, alternating a call that passes and one that is blocked, and prints
the median and every run. The guard decides from the stored figures: no scan, no ledger, no Polars.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_vs_ccusage as bench
from realshape import generate

TARGET_S = 0.05
BUDGETS = """
[[budget]]
name = "bench: roomy"
amount = 1000000.0

[[budget]]
name = "bench: spent in this session"
tokens = 1
period = "session"
"""


def hook_call(home: Path, session: str) -> tuple[float, int]:
    payload = json.dumps(
        {"session_id": session, "cwd": "/home/alice/src/x", "hook_event_name": "PreToolUse", "tool_name": "Bash"}
    ).encode()
    start = time.perf_counter()
    proc = subprocess.run(
        bench.tokscope("guard"), input=payload, env=bench.env_for(home), capture_output=True, check=False
    )
    return time.perf_counter() - start, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="a HOME with agent logs (default: a generated small one)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--installed", action="store_true", help="run a regular (non-editable) install")
    args = parser.parse_args()
    if args.installed:
        bench.TOKSCOPE[:] = bench.installed_tokscope()
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or Path(tmp) / "home"
        if args.home is None:
            generate(home, 0.04, opencode=False, seed=15)
        config = home / ".config" / "tokscope" / "config.toml"
        saved = config.read_bytes() if config.exists() else None
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text((saved or b"").decode() + BUDGETS)
        try:
            bench.run(bench.tokscope("budgets", "--refresh"), home)
            doc = json.loads(bench.run(bench.tokscope("budgets", "--no-scan", "--format", "json"), home).out)
            session = next(b["session_id"] for b in doc["budgets"] if b["period"] == "session")
            passes, blocks = [], []
            for _ in range(args.rounds):
                wall, code = hook_call(home, "no-such-session")
                assert code == 0, f"the passing call exited {code}"
                passes.append(wall)
                wall, code = hook_call(home, session)
                assert code == 2, f"the blocked call exited {code}"
                blocks.append(wall)
        finally:
            if saved is None:
                config.unlink()
            else:
                config.write_bytes(saved)
    print(f"cpus {os.cpu_count()}, load {bench.load()}, HOME {home}")
    met = True
    for label, walls in (("guard, passes", passes), ("guard, blocks", blocks)):
        median = statistics.median(walls)
        met &= median <= TARGET_S
        runs = " ".join(f"{w:.3f}" for w in walls)
        verdict = "MET" if median <= TARGET_S else "NOT MET"
        print(f"{label:16} {median:.3f} s  runs {runs}  target <= {TARGET_S} s  {verdict}")
    print("all targets met" if met else "some targets not met")


if __name__ == "__main__":
    main()
