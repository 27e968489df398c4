"""One change as a unified diff (Enter on a change, in the Changes view or a host's
Changes tab): the engine's `unified_diff`, the text `opsconsole changes show` prints,
with added lines in the success colour and removed ones in the error colour."""

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


def coloured_diff(diff: str) -> Text:
    """The diff as Rich text, a style per line; the plain ANSI colour names keep the
    meaning on a 16-colour terminal."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for line in diff.splitlines():
        style = next((s for prefix, s in LINE_STYLES if line.startswith(prefix)), "")
        text.append(clean(line) + "\n", style=style)
    return text


class ChangeDiff(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "close", "Back")]

    def __init__(self, change: Change) -> None:
        super().__init__()
        self.change = change

    def compose(self) -> ComposeResult:
        change = self.change
        diff = unified_diff(change) or "(no difference to show)"
        with Vertical(id="dialog", classes="dialog wide"):
            yield Label(
                f"{change.host}: {change.type.value} {change.change.value} {change.name}",
                classes="dialog-title",
                markup=False,
            )
            yield Static(clock(change.time), classes="hint", markup=False)
            with VerticalScroll(id="diff-body"):
                yield Static(coloured_diff(diff), id="diff-text")
            yield Label("Up/Down/PgDn scroll, Esc back", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#diff-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)
