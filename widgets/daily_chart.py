"""A bar chart of one value per day, drawn with block characters (no plotting library)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from textual.widget import Widget

_EIGHTHS = " ▁▂▃▄▅▆▇█"


class _Bars:
    """Rich renderable: the bars for a given width and height."""

    def __init__(
        self,
        days: Sequence[tuple[date, float]],
        fmt: Callable[[float], str],
        title: str,
        bar: Style,
        axis: Style,
        highlight: date | None,
    ) -> None:
        self.days = days
        self.fmt = fmt
        self.title = title
        self.bar = bar
        self.axis = axis
        self.highlight = highlight

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        height = options.height or 8
        lines = chart_lines(self.days, width, height, self.fmt, self.title)
        label_w = lines_label_width(lines)
        for row, line in enumerate(lines):
            if 0 < row < height - 1:
                # axis labels, then the bars as one run per line (few segments: small SVGs, fast paint)
                yield Segment(line[:label_w], self.axis)
                yield Segment(line[label_w:], self.bar)
            else:
                yield Segment(line, self.axis)
            yield Segment.line()


def lines_label_width(lines: Sequence[str]) -> int:
    """Width of the y-axis labels (up to and including the ``│``)."""
    for line in lines[1:]:
        if "│" in line:
            return line.index("│") + 1
    return 0


def chart_lines(
    days: Sequence[tuple[date, float]],
    width: int,
    height: int,
    fmt: Callable[[float], str],
    title: str = "",
) -> list[str]:
    """The chart as ``height`` plain strings of ``width`` characters.

    Row 0 is the title, the last row the date axis; one or two columns per day,
    the most recent days kept when they do not all fit.
    """
    height = max(3, height)
    plot_rows = height - 2
    values = [v for _d, v in days]
    peak = max(values, default=0.0)
    top_label = fmt(peak) if peak else fmt(0)
    label_w = max(len(top_label), 1) + 1
    room = max(1, width - label_w - 1)
    col_w = 2 if len(days) * 2 <= room else 1
    shown = list(days)[-(room // col_w) :] if days else []
    out = [(title[:width]).ljust(width)]
    for r in range(plot_rows):
        level = plot_rows - r  # rows from the bottom, 1-based
        label = top_label if r == 0 else ""
        line = label.rjust(label_w - 1) + " │"
        for _d, v in shown:
            filled = (v / peak) * plot_rows * 8 if peak else 0.0
            eighths = round(filled - (level - 1) * 8)
            ch = _EIGHTHS[max(0, min(8, eighths))]
            if v > 0 and level == 1 and ch == " ":
                ch = _EIGHTHS[1]  # a non-zero day is never invisible
            line += ch * (col_w - 1 if col_w > 1 else 1) + (" " if col_w > 1 else "")
        out.append(line[:width].ljust(width))
    axis = " " * label_w + "└"
    if shown:
        first = shown[0][0].strftime("%m-%d")
        last = shown[-1][0].strftime("%m-%d")
        span = len(shown) * col_w
        gap = max(1, span - len(first) - len(last))
        axis += first + (" " * gap + last if len(shown) > 1 else "")
    out.append(axis[:width].ljust(width))
    return out


class DailyChart(Widget):
    """Cost or tokens per day; ``show(days, fmt, title)`` sets the data."""

    DEFAULT_CSS = """
    DailyChart {
        height: 8;
        width: 1fr;
        padding: 0 1;
        color: $text-muted;
        &.-hidden { display: none; }
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._days: list[tuple[date, float]] = []
        self._fmt: Callable[[float], str] = lambda v: f"{v:.0f}"
        self._title = ""

    def show(self, days: Sequence[tuple[date, float]], fmt: Callable[[float], str], title: str) -> None:
        """Chart ``days`` (chronological ``(day, value)``), labelling values with ``fmt``."""
        self._days = list(days)
        self._fmt = fmt
        self._title = title
        self.refresh()

    @property
    def days(self) -> list[tuple[date, float]]:
        """The data shown."""
        return list(self._days)

    def render(self) -> _Bars:
        """The bars, coloured from the theme."""
        from textual.color import Color

        primary = self.app.current_theme.primary if self.is_attached else "blue"
        bar = Style(color=Color.parse(primary).rich_color)
        axis = self.rich_style
        return _Bars(self._days, self._fmt, self._title, bar, axis, None)
