"""The key footer: the keys of what has the focus, drawn as one line of text.

Why not Textual's Footer: it rebuilds one widget per key on every focus move, and does
it after the next refresh, so a pane switch costs a second layout and render of the
screen and mounts a dozen widgets (bench/windows/README.md: the footer made most of the
pane switches that took over 50 ms). This one keeps a list of hints, redraws its single
line when the list changed, and maps a click back to its key.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget

DIM = Style(dim=True)  # a key whose action does not apply now


class KeyHint(NamedTuple):
    key: str  # the key as Textual names it, e.g. "slash"
    display: str  # as shown, e.g. "/"
    description: str
    enabled: bool  # False: shown dimmed, its action does not apply now

    @property
    def label(self) -> str:
        return f" {self.display} "

    @property
    def caption(self) -> str:
        return f"{self.description} "

    @property
    def width(self) -> int:
        """Columns drawn: what `hint_at` maps a click by."""
        return cell_len(self.label) + cell_len(self.caption)


class KeyFooter(Widget, can_focus=False):
    """The active bindings of its screen shown with `show=True`, one per action."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {"key-footer--key", "key-footer--description"}
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        .key-footer--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .key-footer--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.hints: list[KeyHint] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._update()

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, _screen: Screen[object]) -> None:
        # After the message being handled (the focus is then where it goes), and not
        # after the next refresh: the new hints join the frame of the key that changed them.
        self.call_next(self._update)

    def _update(self) -> None:
        hints: dict[str, KeyHint] = {}
        for _node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if binding.show and binding.action not in hints:
                display = self.app.get_key_display(binding)
                hints[binding.action] = KeyHint(binding.key, display, binding.description, enabled)
        if list(hints.values()) != self.hints:
            self.hints = list(hints.values())
            self.refresh()

    def render_line(self, y: int) -> Strip:
        """Segments, not Rich text: a pane switch redraws this line, and laying it out
        as Rich text took 0.5 ms a draw, segments 0.2 ms (bench/windows/README.md)."""
        base = self.rich_style
        key_style = base + self.get_component_rich_style("key-footer--key")
        description_style = base + self.get_component_rich_style("key-footer--description")
        segments: list[Segment] = []
        for hint in self.hints:
            dim = Style() if hint.enabled else DIM
            segments.append(Segment(hint.label, key_style + dim))
            segments.append(Segment(hint.caption, description_style + dim))
        return Strip(segments).crop_extend(0, self.size.width, base)

    def hint_at(self, x: int) -> KeyHint | None:
        """The hint drawn at column `x`, if any."""
        start = 0
        for hint in self.hints:
            if start <= x < start + hint.width:
                return hint
            start += hint.width
        return None

    def on_click(self, event: events.Click) -> None:
        hint = self.hint_at(event.x)
        if hint is None:
            return
        if hint.enabled:
            self.app.simulate_key(hint.key)
        else:
            self.app.bell()
