"""Regenerate the README screenshots from the demo data: ``python screenshots/generate.py``.

Builds the demo (``tokscope demo``'s data, seeded, with a fixed clock) in a
temporary directory with HOME and XDG_* pointed into it, drives the app
headless and writes ``screenshots/<view>-<W>x<H>.svg`` at 120×36 and at a
tmux-sized 80×24. Nothing outside the temporary directory is read or written
besides the SVGs.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from contextlib import suppress
from pathlib import Path

#: (file stem, keys to press after the first load)
VIEWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("clients", ("1",)),
    ("models", ("2",)),
    ("sessions", ("4",)),
    ("devices", ("5",)),
    ("daily", ("6",)),
    ("calendar", ("7",)),
    ("limits", ("8",)),
    ("alerts", ("9",)),
    ("group-picker", ("g",)),
    ("session-turns", ("4", "enter")),
)
SIZES = ((120, 36), (80, 24))


async def _shoot(out: Path, home: Path, shared: Path, size: tuple[int, int], stem: str, keys: tuple[str, ...]) -> Path:
    from textual.worker import WorkerCancelled

    from tokscope.demo import FIXED_NOW, build_demo, demo_app

    demo = build_demo(home, shared, FIXED_NOW.date())
    app = demo_app(demo, clock=lambda: FIXED_NOW, live=False, tick=False)
    app.animation_level = "none"
    async with app.run_test(size=size) as pilot:
        for key in ("", *keys):
            if key:
                await pilot.press(key)
            for _ in range(3):
                with suppress(WorkerCancelled):
                    await app.workers.wait_for_complete()
                await pilot.pause()
        name = f"{stem}-{size[0]}x{size[1]}.svg"
        app.save_screenshot(name, path=str(out))
    return out / name


def main() -> int:
    """Write the SVGs; print their paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from tokscope.demo import demo_env

    for size in SIZES:
        for stem, keys in VIEWS:
            with tempfile.TemporaryDirectory(prefix="tokscope-shots-") as tmp:
                root = Path(tmp)
                demo_env(root)
                path = asyncio.run(_shoot(args.out, root / "home", root / "shared", size, stem, keys))
                print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
