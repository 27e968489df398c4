"""Small modal screens: quit confirmation and the `?` help."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from screens.commands import COMMANDS, SCOPES, key_label


class QuitDialog(ModalScreen[bool]):
    """Asked only when jobs are still running: says what will happen to them."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "Stay"),
        Binding("y", "answer(True)", "Quit"),
    ]

    def __init__(self, active: int, attached: bool) -> None:
        super().__init__()
        self.active = active
        self.attached = attached

    def compose(self) -> ComposeResult:
        jobs = f"{self.active} job{'s are' if self.active != 1 else ' is'} still running."
        one = self.active == 1
        if self.attached:
            fate = (
                f"{'It keeps' if one else 'They keep'} running: this console is "
                "attached to a separate engine."
            )
        else:
            fate = f"Quitting stops {'it' if one else 'them'}: the engine runs inside this console."
        with Vertical(id="dialog", classes="dialog small"):
            yield Label("Quit opsconsole?", classes="dialog-title")
            yield Static(f"{jobs}\n{fate}", id="quit-text")
            with Horizontal(classes="buttons"):
                yield Button("Quit (y)", id="quit-yes", variant="error")
                yield Button("Stay (n)", id="quit-no")

    def on_mount(self) -> None:
        self.query_one("#quit-no", Button).focus()

    @on(Button.Pressed, "#quit-yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#quit-no")
    def _no(self) -> None:
        self.dismiss(False)

    def action_answer(self, quit_: bool) -> None:
        self.dismiss(quit_)


class HelpScreen(ModalScreen[None]):
    """Every command of the registry with its current key (after remapping)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, keymap: Mapping[str, str]) -> None:
        super().__init__()
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        lines = []
        for scope, title in SCOPES.items():
            lines.append(title)
            for command in (c for c in COMMANDS if c.scope == scope):
                key = key_label(self.keymap.get(command.id, command.key))
                lines.append(f"  {key:10} {command.description:18} {command.id}")
            lines.append("")
        lines += [
            "In lists",
            "  Up/Down PgUp/PgDn Home/End move, Enter opens",
            "",
            "In dialogs",
            "  Tab/Enter next field, shift+Tab back; typing replaces a field's text",
            "  ctrl+s start, Esc cancel; Up/Down in the runbook search pick",
            "",
            "Keys are remappable by command id in ~/.config/opsconsole/keys.toml",
        ]
        with Vertical(id="dialog", classes="dialog wide"):
            yield Label("Keys", classes="dialog-title")
            with VerticalScroll(id="help-body"):
                yield Static("\n".join(lines), markup=False)
            yield Label("Up/Down/PgDn scroll, Esc to close", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)
