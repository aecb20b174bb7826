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


def buckets(days: Sequence[tuple[date, float]], room: int) -> tuple[list[tuple[date, date, float]], int]:
    """``days`` folded into at most ``room`` bars of whole, equal runs of days (values summed), and the run length.

    The whole period is always shown: a year in 60 columns is 61 bars of 6 days, never the last 60 days.
    """
    if not days:
        return [], 1
    span = max(1, -(-len(days) // max(1, room)))
    bars = []
    for start in range(0, len(days), span):
        run = days[start : start + span]
        bars.append((run[0][0], run[-1][0], sum(v for _d, v in run)))
    return bars, span


def _date_label(first: date, last: date, width: int) -> tuple[str, str]:
    """Axis labels for the first and last bar: with the year, as short as the room asks."""
    for fmt in ("%Y-%m-%d", "%y-%m-%d", "%b %Y", "%m/%y"):
        left, right = first.strftime(fmt), last.strftime(fmt)
        if len(left) + len(right) + 1 <= width:
            return left, right
    return first.strftime("%m/%y")[:width], ""


def chart_lines(
    days: Sequence[tuple[date, float]],
    width: int,
    height: int,
    fmt: Callable[[float], str],
    title: str = "",
) -> list[str]:
    """The chart as ``height`` plain strings of ``width`` characters.

    Row 0 is the title, the last row the date axis (with the year). Two columns per bar when
    there is room; when the period has more days than columns, each bar sums a run of days
    (the title says how many), so the whole period is always on screen.
    """
    height = max(3, height)
    plot_rows = height - 2
    raw_peak = max((v for _d, v in days), default=0.0)
    label_w = max(len(fmt(raw_peak) if raw_peak else fmt(0)), 1) + 1
    room = max(1, width - label_w - 1)
    col_w = 2 if len(days) * 2 <= room else 1
    bars, span = buckets(list(days), room // col_w)
    peak = max((v for _a, _b, v in bars), default=0.0)
    top_label = fmt(peak) if peak else fmt(0)
    label_w = max(label_w, len(top_label) + 1)
    if span > 1:
        title = f"{title}  · {span} days a bar"
    out = [(title[:width]).ljust(width)]
    for r in range(plot_rows):
        level = plot_rows - r  # rows from the bottom, 1-based
        label = top_label if r == 0 else ""
        line = label.rjust(label_w - 1) + " │"
        for _a, _b, v in bars:
            filled = (v / peak) * plot_rows * 8 if peak else 0.0
            eighths = round(filled - (level - 1) * 8)
            ch = _EIGHTHS[max(0, min(8, eighths))]
            if v > 0 and level == 1 and ch == " ":
                ch = _EIGHTHS[1]  # a non-zero bar is never invisible
            line += ch * (col_w - 1 if col_w > 1 else 1) + (" " if col_w > 1 else "")
        out.append(line[:width].ljust(width))
    axis = " " * label_w + "└"
    if bars:
        room_left = max(1, width - len(axis))
        first, last = _date_label(bars[0][0], bars[-1][1], room_left)
        if len(bars) == 1 or not last:
            axis += first
        else:
            used = max(len(bars) * col_w, len(first) + len(last) + 1)
            axis += first + " " * (min(used, room_left) - len(first) - len(last)) + last
    out.append(axis[:width].ljust(width))
    return out


class DailyChart(Widget):
    """Cost or tokens per day; ``show(days, fmt, title)`` sets the data."""

    DEFAULT_CSS = """
    DailyChart {
        height: 1fr;
        min-height: 4;
        max-height: 18;
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
