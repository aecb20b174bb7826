"""A sortable usage table whose columns drop by priority when the pane is narrow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.events import Resize
from textual.widgets import DataTable


@dataclass(frozen=True)
class Column:
    """One column of a ``UsageTable``."""

    key: str
    label: str
    priority: int = 0
    """Lower is more important; the highest priorities drop first when narrow."""
    width: int = 7
    """Content width (cells are padded by one space each side)."""
    numeric: bool = True
    """Right-justified."""
    flex: bool = False
    """Takes the width left over (the key column), between ``min_width`` and its content."""
    min_width: int = 8
    keep_end: bool = False
    """Too long, it loses its start, not its end (paths: ``…/src/websh/app``)."""


@dataclass(frozen=True)
class Figure:
    """A number in two spellings: ``short`` (``7.9K``) always fits, ``exact`` (``7,912``) where there is room."""

    short: str
    exact: str

    def __str__(self) -> str:
        return self.short


def fit_columns(columns: Sequence[Column], available: int, natural: dict[str, int]) -> list[tuple[Column, int]]:
    """The columns to show in ``available`` cells and the width of each.

    Columns are dropped highest priority first until the rest fit with every
    flex column at its ``min_width``; flex columns then share what is left, up to
    their ``natural`` (content) width.
    """
    shown = list(columns)

    def fixed(cols: Sequence[Column]) -> int:
        return sum((c.min_width if c.flex else c.width) + 2 for c in cols)

    while len(shown) > 1 and fixed(shown) > available:
        worst = max((c for c in shown if c.priority > 0), key=lambda c: c.priority, default=None)
        if worst is None:
            break
        # among equal priorities drop the right-most
        idx = max(i for i, c in enumerate(shown) if c.priority == worst.priority)
        shown.pop(idx)
    # put back dropped columns, most important first, while they fit (dropping went by
    # priority then position, so a narrow column may fit again); stop at the first that does not
    for col in sorted((c for c in columns if c not in shown), key=lambda c: c.priority):
        trial = [c for c in columns if c in shown or c is col]
        if fixed(trial) > available:
            break
        shown = trial
    spare = max(0, available - fixed(shown))
    result: list[tuple[Column, int]] = []
    for col in shown:
        if col.flex:
            want = max(col.min_width, natural.get(col.key, col.min_width))
            width = min(want, col.min_width + spare)
            spare -= width - col.min_width
            result.append((col, width))
        else:
            result.append((col, col.width))
    return result


def _ellipsize(text: str, width: int, keep_end: bool = False) -> str:
    if len(text) <= width:
        return text
    if not keep_end:
        return text[: max(0, width - 1)] + "…"
    tail = text[len(text) - max(0, width - 1) :]
    cut = tail.find("/")
    return "…" + (tail[cut:] if 0 <= cut < len(tail) - 1 else tail)  # start the tail at a path part


def fit_exact(
    columns: Sequence[Column], available: int, natural: dict[str, int], exact: dict[str, int]
) -> tuple[list[tuple[Column, int]], set[str]]:
    """``fit_columns``, then the columns whose exact figures need ``exact[key]`` cells widened to them,
    most important first, while that costs nothing else (the same columns shown, every flex column
    as wide as before). Returns the fit and the keys of the columns that show exact figures."""

    def signature(fit: list[tuple[Column, int]]) -> list[tuple[str, int | None]]:
        return [(c.key, w if c.flex else None) for c, w in fit]

    current = list(columns)
    fitted = fit_columns(current, available, natural)
    shown = {c.key for c, _w in fitted}
    exact_keys = {k for k, need in exact.items() if k in shown and need <= next(w for c, w in fitted if c.key == k)}
    for col in sorted((c for c in columns if c.key in shown and c.key not in exact_keys), key=lambda c: c.priority):
        need = exact.get(col.key)
        if need is None:
            continue
        trial = [replace(c, width=need) if c.key == col.key else c for c in current]
        trial_fit = fit_columns(trial, available, natural)
        if signature(trial_fit) == signature(fitted):
            current, fitted = trial, trial_fit
            exact_keys.add(col.key)
    return fitted, exact_keys


class UsageTable(DataTable):
    """Rows of formatted cells; the screen sorts and formats, this widget lays out.

    ``show(columns, rows)``: ``rows`` are ``(row_key, {column_key: str | Text})``.
    The cursor stays on the same row key across updates.
    """

    DEFAULT_CSS = """
    UsageTable {
        height: 1fr;
        border: none;
        scrollbar-size-vertical: 1;
        & > .datatable--header { text-style: bold; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # not in the footer (Enter is where people expect it; the footer has no room at 80 columns)
        Binding("enter", "select_cursor", "Open", show=False, id="drill", tooltip="Drill down into the row"),
        Binding("j", "cursor_down", "Down", show=False, id="row.down"),
        Binding("k", "cursor_up", "Up", show=False, id="row.up"),
        Binding("home,ctrl+home", "first_row", "First row", show=False, id="row.first"),
        Binding("end,ctrl+end", "last_row", "Last row", show=False, id="row.last"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._columns_spec: list[Column] = []
        self._rows: list[tuple[str, dict[str, Any]]] = []
        self._shown: list[tuple[Column, int]] = []
        self._built_width = 0
        self.sort_key: str | None = None
        """Column key the rows are sorted by (marked in the header)."""
        self.sort_descending = True

    @property
    def shown_columns(self) -> list[str]:
        """Keys of the columns currently shown."""
        return [c.key for c, _w in self._shown]

    @property
    def row_keys(self) -> list[str]:
        """Row keys in display order."""
        return [key for key, _cells in self._rows]

    def cursor_key(self) -> str | None:
        """The row key under the cursor."""
        if not self._rows or not (0 <= self.cursor_row < len(self._rows)):
            return None
        return self._rows[self.cursor_row][0]

    def show(
        self,
        columns: Sequence[Column],
        rows: Sequence[tuple[str, dict[str, Any]]],
        sort_key: str | None = None,
        descending: bool = True,
    ) -> None:
        """Replace the content (one repaint, cursor kept on its row key)."""
        self._columns_spec = list(columns)
        self._rows = list(rows)
        self.sort_key = sort_key
        self.sort_descending = descending
        self._rebuild()

    def _available(self) -> int:
        width = self.size.width or (self.app.size.width if self.is_attached else 80)
        return max(20, width - 1)  # the vertical scrollbar

    def _rebuild(self) -> None:
        keep = self.cursor_key()
        scroll_y = self.scroll_y
        natural: dict[str, int] = {}
        for col in self._columns_spec:
            if col.flex:
                longest = max((len(_plain(cells.get(col.key, ""))) for _k, cells in self._rows), default=0)
                natural[col.key] = max(len(col.label) + 2, longest)
        self._built_width = self._available()
        exact_need: dict[str, int] = {}
        for _k, cells in self._rows:
            for key, value in cells.items():
                if isinstance(value, Figure):
                    exact_need[key] = max(exact_need.get(key, 0), len(value.exact))
        self._shown, exact = fit_exact(self._columns_spec, self._built_width, natural, exact_need)
        self.clear(columns=True)
        for col, width in self._shown:
            label = col.label
            header = Text(label, justify="right" if col.numeric else "left")
            if col.key == self.sort_key:
                header.stylize("underline")
                arrow = "▼" if self.sort_descending else "▲"
                if len(label) + 2 > width:  # a narrow column gives up its label's end, not the arrow
                    header = Text(label[: max(0, width - 1)], justify=header.justify, style="underline")
                    header = Text.assemble(header, arrow, justify=header.justify)
                else:
                    header = Text.assemble(header, " " + arrow, justify=header.justify)
            self.add_column(header, width=width, key=col.key)
        cells_rows = []
        for key, cells in self._rows:
            row = []
            for col, width in self._shown:
                value = cells.get(col.key, "")
                if isinstance(value, Figure):
                    value = value.exact if col.key in exact else value.short
                if isinstance(value, Text):
                    value = value.copy()
                    value.truncate(width, overflow="ellipsis")
                    if col.numeric:
                        value.justify = "right"
                    row.append(value)
                else:
                    text = _ellipsize(str(value), width, col.keep_end)
                    # a plain str cell would be parsed as markup: names and paths from logs may hold [ ]
                    row.append(Text(text, justify="right") if col.numeric else Text(text))
            cells_rows.append((row, key))
        for row, key in cells_rows:
            self.add_row(*row, key=key)
        if keep is not None:
            keys = self.row_keys
            if keep in keys:
                # same row under the cursor, same scroll position: a live update does not jump
                self.move_cursor(row=keys.index(keep), animate=False, scroll=False)
                self.scroll_to(y=scroll_y, animate=False, immediate=True)

    def cursor_text(self) -> str | None:
        """The row under the cursor as tab-separated ``label: value`` text, every column, exact figures."""
        key = self.cursor_key()
        if key is None:
            return None
        cells = dict(self._rows[self.cursor_row][1])
        parts = []
        for col in self._columns_spec:
            value = cells.get(col.key, "")
            value = value.exact if isinstance(value, Figure) else _plain(value)
            if value != "":
                parts.append(f"{col.label}: {value}")
        return "\t".join(parts)

    def action_first_row(self) -> None:
        """Move the cursor to the first row."""
        if self.row_count:
            self.move_cursor(row=0)

    def action_last_row(self) -> None:
        """Move the cursor to the last row."""
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)

    def on_resize(self, event: Resize) -> None:
        """Re-fit the columns when the pane width changes."""
        if self._columns_spec and self._available() != self._built_width:
            self._rebuild()


def _plain(value: Any) -> str:
    return value.plain if isinstance(value, Text) else str(value)
