"""What the console's form dialogs share: a labelled field row, and a modal whose
fields a keyboard-only operator walks top to bottom (Tab/Enter next, ctrl+s submits,
Esc cancels), generic in what it returns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar, TypeVar

from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

ResultT = TypeVar("ResultT")


def form_footer(prefix: str, submit: str, hint: str = "") -> ComposeResult:
    """A form's error line and its buttons: `#PREFIX-error`, `#PREFIX-SUBMIT` (e.g.
    `#run-start`, bound to ctrl+s) and `#PREFIX-cancel` (Esc)."""
    yield Static("", id=f"{prefix}-error", classes="error")
    with Horizontal(classes="buttons"):
        yield Static(hint, classes="hint keys")
        yield Button(f"{submit} (ctrl+s)", id=f"{prefix}-{submit.lower()}", variant="primary")
        yield Button("Cancel (esc)", id=f"{prefix}-cancel")


class FieldRow(Horizontal):
    """A label and its input on one line. The label of the row holding the focus gets a
    `>` in front: a mark that shows in any terminal, even without colours."""

    def __init__(self, label: str, field: Input) -> None:
        super().__init__(Label(f"  {label}", classes="field-label"), field, classes="field")
        self.label = label

    def _mark(self, focused: bool) -> None:
        self.query_one(".field-label", Label).update(f"{'>' if focused else ' '} {self.label}")

    def on_descendant_focus(self) -> None:
        self._mark(True)

    def on_descendant_blur(self) -> None:
        self._mark(False)


class FormDialog(ModalScreen[ResultT]):
    """What both dialogs share: Tab/Enter walk the fields, ctrl+s starts, Esc cancels.

    Tab and Enter are priority bindings: they move the focus in the key's own turn, so
    keys typed right after them (a fast typist, a paste, a laggy SSH link delivering
    several keys at once) land in the field the focus moved to, not the one it left.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "start", "Start", priority=True),
        Binding("enter", "enter", "Next field", show=False, priority=True),
        Binding("tab", "move_focus(1)", "Next field", show=False, priority=True),
        Binding("shift+tab", "move_focus(-1)", "Previous field", show=False, priority=True),
    ]

    def action_move_focus(self, step: int) -> None:
        if step > 0:
            self.focus_next()
        else:
            self.focus_previous()

    async def action_enter(self) -> None:
        focused = self.focused
        if not isinstance(focused, Input):
            raise SkipAction()  # a button presses itself
        await self.enter_in(focused)

    async def enter_in(self, field: Input) -> None:
        """Enter in a field moves to the next one, as Tab does: the last field's Enter
        lands on the Start button, whose Enter starts."""
        self.focus_next()

    def action_start(self) -> None:
        self.after_typing(self.submit)

    def after_typing(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run `callback` once every field has handled the keys already sent to it (a
        priority key is handled before them): each field runs the next step from its
        own queue, the last step runs the callback."""
        fields = list(self.query(Input))

        def step(rest: list[Input]) -> None:
            if rest:
                rest[0].call_later(step, rest[1:])
            else:
                self.call_later(callback)

        step(fields)

    async def submit(self) -> None:
        raise NotImplementedError

    def action_cancel(self) -> None:
        self.dismiss(None)
