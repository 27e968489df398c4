"""A pane's one-line status (counts, the filter, the keys that apply).

Why not a plain Static: `Static.update` lays the whole screen out again, in case the
new text changes the widget's size. A status line is one line as wide as its pane
whatever it says, so a new text only repaints it; panes rewrite theirs on every focus
move, and each of those was a layout of the screen and one more frame.
"""

from __future__ import annotations

from textual.visual import VisualType
from textual.widgets import Static


class StatusLine(Static):
    DEFAULT_CSS = "StatusLine { height: 1; }"

    def update(self, content: VisualType = "", *, layout: bool = False) -> None:
        """Repaint only when the text changed (a focus move rewrites it, often alike)."""
        if isinstance(content, str) and content == self.content:
            return
        super().update(content, layout=layout)
