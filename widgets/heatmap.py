"""When the work happens: an hour-of-day × weekday grid, five shades."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from textual.widget import Widget

from .calendar import LEVEL_CHARS, levels, shade_styles

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def hour_levels(grid: Sequence[Sequence[float]]) -> list[list[int]]:
    """The 7 × 24 values as shades 0-4 (quartiles of the non-zero cells)."""
    flat = levels([v for row in grid for v in row])
    return [flat[r * 24 : (r + 1) * 24] for r in range(7)]


class _Heatmap:
    def __init__(self, grid: Sequence[Sequence[float]], title: str, shades: Sequence[Style], axis: Style) -> None:
        self.grid, self.title, self.shades, self.axis = grid, title, shades, axis

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        label_w = 4
        cell = 3 if width - label_w >= 72 else 2 if width - label_w >= 48 else 1
        yield Segment(self.title[:width].ljust(width), self.axis)
        yield Segment.line()
        step = 3 if cell == 1 else 2 if cell == 2 else 1
        hours = "".join((f"{h:<{cell * step}}" if h % step == 0 else "") for h in range(24))
        yield Segment((" " * label_w + hours)[:width].ljust(width), self.axis)
        yield Segment.line()
        shaded = hour_levels(self.grid)
        for r in range(7):
            yield Segment(_DAYS[r].ljust(label_w), self.axis)
            for level in shaded[r]:
                yield Segment(LEVEL_CHARS[level] * min(cell, 2) + " " * (cell - min(cell, 2)), self.shades[level])
            yield Segment(" " * max(0, width - label_w - 24 * cell))
            yield Segment.line()


class HourHeatmap(Widget):
    """Tokens or cost by weekday and hour of day over the period; ``show(grid, title)`` sets the data."""

    DEFAULT_CSS = """
    HourHeatmap {
        height: 9;
        width: 1fr;
        padding: 0 1;
        color: $text-muted;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._grid: list[list[float]] = [[0.0] * 24 for _ in range(7)]
        self._title = ""

    def show(self, grid: Sequence[Sequence[float]], title: str) -> None:
        """``grid[weekday][hour]`` (Monday = 0), in the view's timezone."""
        self._grid = [list(row) for row in grid]
        self._title = title
        self.refresh()

    def render(self) -> _Heatmap:
        """The grid, shaded from the theme."""
        return _Heatmap(self._grid, self._title, shade_styles(self), self.rich_style)
