"""A virtualised table: renders only the rows on screen, so 100,000 rows cost nothing.

The stock DataTable measures and lays out every row (3.6 s first paint at 10,000 rows,
see textual-notes). This widget keeps rows as plain tuples of strings, uses fixed
column widths (the last column takes what is left), and draws each visible line in
`render_line`. Updating one row is a dict lookup and a one-line refresh.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip


@dataclass(frozen=True)
class Column:
    title: str
    width: int  # the last column stretches to fill the line; its width is a minimum


# Cell text -> a component class name (e.g. "status--failed") or None for the row style.
CellClass = Callable[[int, str], str | None]


class VirtualTable(ScrollView, can_focus=True):
    """Rows keyed by a string id; a cursor; Enter posts `Selected`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "vtable--header",
        "vtable--cursor",
        "status--ok",
        "status--failed",
        "status--running",
        "status--queued",
        "status--muted",
    }

    DEFAULT_CSS = """
    VirtualTable { overflow-x: hidden; overflow-y: auto; height: 1fr; }
    VirtualTable > .vtable--header { text-style: bold; background: $panel; }
    VirtualTable > .vtable--cursor { background: $surface-lighten-2; }
    VirtualTable:focus > .vtable--cursor { background: $primary; color: $text; }
    VirtualTable > .status--ok { color: $success; }
    VirtualTable > .status--failed { color: $error; }
    VirtualTable > .status--running { color: $warning; }
    VirtualTable > .status--queued { color: $secondary; }
    VirtualTable > .status--muted { color: $text-muted; }
    """

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)

    class Selected(Message):
        """Enter was pressed on a row."""

        def __init__(self, table: VirtualTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> VirtualTable:
            return self.table

    class Highlighted(Message):
        """The cursor moved to another row."""

        def __init__(self, table: VirtualTable, key: str | None, index: int) -> None:
            super().__init__()
            self.table = table
            self.key = key
            self.index = index

        @property
        def control(self) -> VirtualTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        cell_class: CellClass | None = None,
        empty_text: str = "Nothing to show.",
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.columns = tuple(columns)
        self.cell_class = cell_class
        self.empty_text = empty_text
        self._keys: list[str] = []
        self._rows: list[tuple[str, ...]] = []
        self._index: dict[str, int] = {}

    # -- data ------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def keys(self) -> list[str]:
        return list(self._keys)

    @property
    def cursor_key(self) -> str | None:
        return self._keys[self.cursor] if 0 <= self.cursor < len(self._keys) else None

    def row(self, key: str) -> tuple[str, ...] | None:
        index = self._index.get(key)
        return None if index is None else self._rows[index]

    def set_rows(self, rows: Sequence[tuple[str, tuple[str, ...]]]) -> None:
        """Replace every row; keeps the cursor on the same key when it is still there."""
        current = self.cursor_key
        self._keys = [key for key, _ in rows]
        self._rows = [cells for _, cells in rows]
        self._index = {key: i for i, key in enumerate(self._keys)}
        self._resize()
        target = self._index.get(current, 0) if current is not None else 0
        self._move_to(min(target, max(0, len(self._rows) - 1)))
        self.refresh()

    def append_rows(self, rows: Sequence[tuple[str, tuple[str, ...]]]) -> None:
        for key, cells in rows:
            self._index[key] = len(self._keys)
            self._keys.append(key)
            self._rows.append(cells)
        self._resize()
        self.refresh()

    def prepend_row(self, key: str, cells: tuple[str, ...]) -> None:
        """A new row at the top (a new job); the cursor stays on the row it was on."""
        self._keys.insert(0, key)
        self._rows.insert(0, cells)
        self._index = {k: i for i, k in enumerate(self._keys)}
        self._resize()
        if len(self._rows) > 1:
            self.cursor += 1
        self.refresh()

    def update_row(self, key: str, cells: tuple[str, ...]) -> bool:
        """Replace one row's cells; returns False when no row has that key."""
        index = self._index.get(key)
        if index is None:
            return False
        self._rows[index] = cells
        self.refresh_line(index + 1)
        return True

    def _resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._rows) + 1)

    # -- cursor ----------------------------------------------------------------------

    def _move_to(self, index: int) -> None:
        index = max(0, min(index, len(self._rows) - 1)) if self._rows else 0
        previous = self.cursor
        self.cursor = index
        self._scroll_cursor_visible()
        self.refresh_line(previous + 1)
        self.refresh_line(index + 1)
        self.post_message(self.Highlighted(self, self.cursor_key, index))

    def _scroll_cursor_visible(self) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def move_to_key(self, key: str) -> None:
        if key in self._index:
            self._move_to(self._index[key])

    def action_cursor(self, delta: int) -> None:
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self.cursor + direction * max(1, self.scrollable_content_region.height - 1))

    def action_edge(self, end: int) -> None:
        self._move_to(len(self._rows) - 1 if end else 0)

    def action_select(self) -> None:
        if self.cursor_key is not None:
            self.post_message(self.Selected(self, self.cursor_key))

    # -- rendering -------------------------------------------------------------------

    def _widths(self, total: int) -> list[int]:
        widths = [c.width for c in self.columns]
        fixed = sum(widths[:-1]) + len(widths) - 1
        widths[-1] = max(widths[-1], total - fixed)
        return widths

    def _line(
        self, cells: Sequence[str], widths: list[int], base: Style, classes: Sequence[str | None]
    ) -> Strip:
        segments: list[Segment] = []
        for i, (text, width) in enumerate(zip(cells, widths, strict=False)):
            cell = text[:width].ljust(width) if len(text) <= width else text[: width - 1] + "~"
            style = base
            name = classes[i] if i < len(classes) else None
            if name:
                style = base + self.get_component_rich_style(name, partial=True)
            segments.append(Segment(cell, style))
            if i < len(widths) - 1:
                segments.append(Segment(" ", base))
        return Strip(segments)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        widths = self._widths(width)
        base = self.rich_style
        if y == 0:
            header = base + self.get_component_rich_style("vtable--header")
            titles = [c.title for c in self.columns]
            return self._line(titles, widths, header, ()).adjust_cell_length(width, header)
        index = int(self.scroll_y) + y - 1
        if not self._rows:
            text = self.empty_text if y == 1 else ""
            muted = base + self.get_component_rich_style("status--muted", partial=True)
            return Strip([Segment(text[:width], muted)]).adjust_cell_length(width, base)
        if index >= len(self._rows):
            return Strip.blank(width, base)
        cells = self._rows[index]
        on_cursor = index == self.cursor
        if on_cursor:
            base = base + self.get_component_rich_style("vtable--cursor")
        # The focused cursor row is one colour: a status colour on the cursor's
        # background can be unreadable once reduced to 16 colours.
        plain = on_cursor and self.has_focus
        classes = (
            [self.cell_class(i, text) for i, text in enumerate(cells)]
            if self.cell_class and not plain
            else []
        )
        return self._line(cells, widths, base, classes).adjust_cell_length(width, base)

    def on_resize(self) -> None:
        self._resize()
