"""The pane bar: the four panes' names in one line, the shown one marked.

Why not Textual's TabbedContent: a pane switch there restyles and redraws five layers
of widgets (tabs, their underline, tab panes) and moves the underline one frame later,
a second render of the screen. They drew about a third of the lines drawn in a pane
switch (bench/windows/README.md, "The pane bar"). This bar is one widget drawing one line;
the panes sit in a ContentSwitcher.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget


class PaneBar(Widget, can_focus=False):
    """`panes`: (id, label) in the order shown; a click on a label posts `Chosen`."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {"pane-bar--active", "pane-bar--inactive"}
    DEFAULT_CSS = """
    PaneBar {
        height: 1;
        background: $panel;
        .pane-bar--active { background: $primary; color: $text; text-style: bold; }
        .pane-bar--inactive { color: $text-muted; }
    }
    """

    active: reactive[str] = reactive("")  # the shown pane; a change redraws the line

    class Chosen(Message):
        """A pane's label was clicked."""

        def __init__(self, pane: str) -> None:
            super().__init__()
            self.pane = pane

    def __init__(self, panes: Sequence[tuple[str, str]], active: str) -> None:
        super().__init__()
        self.panes = tuple(panes)
        self.set_reactive(PaneBar.active, active)

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        active = base + self.get_component_rich_style("pane-bar--active")
        inactive = base + self.get_component_rich_style("pane-bar--inactive")
        segments = [
            Segment(f" {label} ", active if pane == self.active else inactive)
            for pane, label in self.panes
        ]
        return Strip(segments).adjust_cell_length(self.size.width, base)

    def pane_at(self, x: int) -> str | None:
        """The pane whose label is drawn at column `x`, if any."""
        start = 0
        for pane, label in self.panes:
            end = start + cell_len(label) + 2
            if start <= x < end:
                return pane
            start = end
        return None

    def on_click(self, event: events.Click) -> None:
        pane = self.pane_at(event.x)
        if pane is not None:
            self.post_message(self.Chosen(pane))
