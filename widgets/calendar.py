"""A year at a glance, like GitHub's contribution calendar: one cell a day, weeks as columns, five shades."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from textual.widget import Widget

#: What the five levels look like without colour (and in the SVG snapshots' text): none to most.
LEVEL_CHARS = "·░▒▓█"
_WEEKDAYS = ("Mon", "", "Wed", "", "Fri", "", "Sun")


def levels(values: Sequence[float]) -> list[int]:
    """Each value's shade 0-4: 0 for nothing, 1-4 by quartile of the non-zero values (as GitHub does),
    so one huge day does not leave every other day blank; equal values share the top shade."""
    nonzero = sorted(v for v in values if v > 0)
    if not nonzero:
        return [0] * len(values)
    cuts = [nonzero[min(len(nonzero) - 1, (len(nonzero) * q) // 4)] for q in (1, 2, 3)]
    return [0 if v <= 0 else 1 + sum(v >= c for c in cuts) for v in values]


def calendar_grid(days: Sequence[tuple[date, float]], weeks: int) -> tuple[list[date], list[list[int | None]]]:
    """The last ``weeks`` weeks up to the last day given: the Monday of each week and a 7 × weeks grid
    of levels (None for days after the last one)."""
    if not days:
        return [], [[None] * weeks for _ in range(7)]
    last = days[-1][0]
    start = last - timedelta(days=last.weekday()) - timedelta(weeks=weeks - 1)
    by_day = {d: v for d, v in days if d >= start}
    span = [start + timedelta(days=i) for i in range(weeks * 7)]
    shade = dict(zip(span, levels([by_day.get(d, 0.0) for d in span]), strict=True))
    grid: list[list[int | None]] = [[None] * weeks for _ in range(7)]
    for i, day in enumerate(span):
        if day <= last:
            grid[day.weekday()][i // 7] = shade[day]
    return [start + timedelta(weeks=w) for w in range(weeks)], grid


def month_labels(mondays: Sequence[date], cell: int) -> str:
    """A label line: a month's short name above the first week that starts in it."""
    line = ""
    for i, monday in enumerate(mondays):
        at = i * cell
        if (i == 0 or monday.month != mondays[i - 1].month) and len(line) <= at:
            name = monday.strftime("%b")
            line = line.ljust(at) + name
    return line


class _Calendar:
    def __init__(self, days: Sequence[tuple[date, float]], title: str, shades: Sequence[Style], axis: Style) -> None:
        self.days, self.title, self.shades, self.axis = days, title, shades, axis

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        label_w = 4
        cell = 2 if (width - label_w) // 2 >= 53 else 1
        weeks = max(1, min(53, (width - label_w) // cell))
        mondays, grid = calendar_grid(self.days, weeks)
        legend = "less " + "".join(LEVEL_CHARS) + " more"
        title = self.title
        if mondays:
            title += f"  · {mondays[0]:%b %Y} – {self.days[-1][0]:%b %Y}"
        if len(title) + len(legend) + 2 <= width:
            title = title.ljust(width - len(legend)) + legend
        yield Segment(title[:width].ljust(width), self.axis)
        yield Segment.line()
        yield Segment((" " * label_w + month_labels(mondays, cell))[:width].ljust(width), self.axis)
        yield Segment.line()
        for row in range(7):
            yield Segment(_WEEKDAYS[row].ljust(label_w), self.axis)
            for level in grid[row]:
                if level is None:
                    yield Segment(" " * cell)
                else:
                    yield Segment(LEVEL_CHARS[level] + " " * (cell - 1), self.shades[level])
            yield Segment(" " * max(0, width - label_w - weeks * cell))
            yield Segment.line()


def shade_styles(widget: Widget) -> list[Style]:
    """Five styles from the theme: muted for nothing, then the primary colour ever stronger."""
    from textual.color import Color

    app = widget.app if widget.is_attached else None
    primary = Color.parse(app.current_theme.primary if app else "#0178D4")
    surface = Color.parse(app.current_theme.surface or "#1e1e1e") if app else Color.parse("#1e1e1e")
    muted = Style(color=surface.blend(Color.parse("#808080"), 0.5).rich_color)
    return [muted, *[Style(color=surface.blend(primary, a).rich_color) for a in (0.35, 0.55, 0.8, 1.0)]]


class YearCalendar(Widget):
    """Cost or tokens per day over the last year; ``show(days, title)`` sets the data."""

    DEFAULT_CSS = """
    YearCalendar {
        height: 9;
        width: 1fr;
        padding: 0 1;
        color: $text-muted;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._days: list[tuple[date, float]] = []
        self._title = ""

    def show(self, days: Sequence[tuple[date, float]], title: str, fmt: Callable[[float], str] | None = None) -> None:
        """Chart ``days`` (chronological ``(day, value)``), the last one being today."""
        self._days = list(days)
        total = sum(v for _d, v in days)
        self._title = f"{title}  · {fmt(total)} in all" if fmt else title
        self.refresh()

    def render(self) -> _Calendar:
        """The grid, shaded from the theme."""
        return _Calendar(self._days, self._title, shade_styles(self), self.rich_style)
