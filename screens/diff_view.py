"""Diffs on screen: one change as a unified diff (Enter on a change, in the Changes view
or a host's Changes tab: the engine's `unified_diff`, the text `opsconsole changes
show` prints), and the dialog that also shows a desired-state report's diffs. Added
lines are green, removed ones red."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from console.changes.diff import unified_diff
from console.changes.model import Change
from screens.format import clock
from screens.logview import clean

# A diff line's first characters -> its style; the file headers before the hunks.
LINE_STYLES = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"))


def coloured_diff(diff: str, indent: str = "") -> Text:
    """The diff as Rich text, a style per line; the plain ANSI colour names keep the
    meaning on a 16-colour terminal, and the +/- signs keep it without colour."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for line in diff.splitlines():
        style = next((s for prefix, s in LINE_STYLES if line.startswith(prefix)), "")
        text.append(indent + clean(line) + "\n", style=style)
    return text


class DiffDialog(ModalScreen[None]):
    """A title, a line under it, and a scrolling body of coloured text (diffs): a
    change (`ChangeDiff`) or a desired-state report (`screens.state_report`)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "close", "Back")]

    def __init__(self, title: str, subtitle: str, body: Text) -> None:
        super().__init__()
        self.title_text = title
        self.subtitle = subtitle
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog wide"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield Static(self.subtitle, classes="hint", markup=False)
            with VerticalScroll(id="diff-body"):
                yield Static(self.body, id="diff-text")
            yield Label("Up/Down/PgDn scroll, Esc back", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#diff-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)


class ChangeDiff(DiffDialog):
    def __init__(self, change: Change) -> None:
        diff = unified_diff(change) or "(no difference to show)"
        super().__init__(
            f"{change.host}: {change.type.value} {change.change.value} {change.name}",
            clock(change.time),
            coloured_diff(diff),
        )
        self.change = change
