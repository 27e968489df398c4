"""Start a runbook (`r`) or an ad-hoc command (`x`): typed modals returning the new Job.

Both dialogs are forms a keyboard-only operator walks top to bottom: every field has a
label beside it, the focused row is marked (`>`, and a colour that survives 16-colour
terminals), Tab and Enter move to the next field, `ctrl+s` starts, `Esc` cancels.

The runbook picker is fuzzy: typing in the search field filters the list below it,
Up/Down move the highlight without leaving the field, Enter picks and moves on to the
target. The target starts as the inventory filter (when it is a pattern) or the
runbook's declared `target`, and shows how many hosts match, and which, as you type
(`client.hosts`). The parameter form is generated from `RunbookInfo.parameters`, with
defaults written the way the CLI's `-p NAME=VALUE` accepts them, and is validated by
the engine (`client.check_parameters`), so the console and the CLI accept and reject
exactly the same values. Errors are shown in the dialog, which stays open.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.fuzzy import Matcher
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from console.engine.client import ParameterInfo, RunbookInfo
from console.errors import OpsError
from console.jobs.model import Job
from screens.context import client_of
from screens.forms import FieldRow, FormDialog, form_footer

NAMES_SHOWN = 4  # host names listed after the match count
HINT_WIDTH = 54  # what fits beside the labels in the 76-column dialog


def describe(param: ParameterInfo) -> str:
    """The line under a parameter's field: type, choices, required, description."""
    parts = [param.type]
    if param.choices:
        parts.append("one of " + "|".join(param.choices))
    if param.type == "list" and not param.description:
        parts.append("comma list or JSON array")
    if param.required:
        parts.append("required")
    text = ", ".join(parts)
    text = f"{text}: {param.description}" if param.description else text
    return text if len(text) <= HINT_WIDTH else text[: HINT_WIDTH - 3] + "..."


class PatternCount(Static):
    """'N hosts match: a, b, c' under a target field, or the pattern's error."""

    def show(self, pattern: str) -> bool:
        pattern = pattern.strip()
        if not pattern:
            self.set_class(False, "error")
            self.update("Type a host, group or pattern, e.g. all or web:&prod")
            return False
        try:
            names = [h.name for h in client_of(self).hosts(pattern)]
        except OpsError as exc:
            self.set_class(True, "error")
            self.update(f"Pattern error: {exc}")
            return False
        self.set_class(not names, "error")
        if not names:
            self.update("0 hosts match.")
            return False
        shown = ", ".join(names[:NAMES_SHOWN]) + (", ..." if len(names) > NAMES_SHOWN else "")
        verb = "host matches" if len(names) == 1 else "hosts match"
        text = f"{len(names)} {verb}: {shown}"
        self.update(text if len(text) <= HINT_WIDTH else text[: HINT_WIDTH - 3] + "...")
        return True


class SearchInput(Input):
    """The runbook search: Up/Down/PageUp/PageDown move the highlight in the list below
    it, so picking never needs the focus to leave the field."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move('cursor_up')", show=False),
        Binding("down", "move('cursor_down')", show=False),
        Binding("pageup", "move('page_up')", show=False),
        Binding("pagedown", "move('page_down')", show=False),
    ]

    class Move(Message):
        def __init__(self, action: str) -> None:
            super().__init__()
            self.action = action

    def action_move(self, action: str) -> None:
        self.post_message(self.Move(action))


class RunDialog(FormDialog[Job | None]):
    def __init__(self, pattern: str = "") -> None:
        super().__init__()
        self.books: list[RunbookInfo] = []
        self.loaded = False
        self.chosen: RunbookInfo | None = None
        self.initial_pattern = pattern
        self._auto_pattern = pattern  # the target we filled in; an edit by hand wins

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label("Run a runbook", classes="dialog-title")
            yield FieldRow(
                "Runbook",
                SearchInput(placeholder="type to search, Up/Down, Enter", id="run-search"),
            )
            books = OptionList(id="run-books")
            books.can_focus = False  # driven from the search field (Up/Down)
            yield books
            yield FieldRow(
                "Target",
                Input(self.initial_pattern, placeholder="host, group or pattern", id="run-pattern"),
            )
            yield PatternCount("", id="run-count", classes="hint count")
            yield Label("Parameters", id="run-form-title", classes="section")
            yield VerticalScroll(id="run-form", can_focus=False)
            yield from form_footer("run", "Start", "Tab/Enter next field")

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#run-search", Input))
        self.query_one("#run-count", PatternCount).show(self.initial_pattern)
        self.load_books()

    @work(exclusive=True)
    async def load_books(self) -> None:
        try:
            self.books = await client_of(self).runbooks()
        except OpsError as exc:
            self._error(str(exc))
            return
        self.loaded = True
        await self._refresh_books(self.query_one("#run-search", Input).value)

    async def _refresh_books(self, query: str) -> None:
        if not self.loaded:
            return  # load_books shows the list for what has been typed by then
        options = self.query_one("#run-books", OptionList)
        matcher = Matcher(query) if query else None
        scored = [(matcher.match(b.name) if matcher else 1.0, b) for b in self.books]
        ranked = sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], s[1].name))
        options.clear_options()
        # Text, not a markup string: "[shell]" must show, not be read as a style tag.
        options.add_options(
            [
                Option(Text(f"{b.name}  [{b.language}] {b.description}"[:70]), id=b.name)
                for _, b in ranked
            ]
        )
        if ranked:
            options.highlighted = 0
            await self._choose(ranked[0][1])
        elif not self.books:
            self._error("No runbooks found in the runbooks folder.")
        else:
            self._error(f"No runbook matches {query!r}.")

    async def _choose(self, book: RunbookInfo) -> None:
        self._error("")
        if self.chosen is not None and self.chosen.name == book.name:
            return
        self.chosen = book
        self._fill_target(book)
        self.query_one("#run-form-title", Label).update(
            f"Parameters of {book.name}" + (" (empty = default)" if book.parameters else "")
        )
        form = self.query_one("#run-form", VerticalScroll)
        await form.remove_children()
        fields: list[Widget] = []
        for param in book.parameters:
            default = "" if param.default is None else param.text(param.default)
            name = f"{param.name}{' *' if param.required else ''}"
            fields.append(
                FieldRow(
                    name,
                    Input(
                        default, placeholder=param.type, id=f"param-{param.name}", classes="param"
                    ),
                )
            )
            fields.append(Static(Text(describe(param)), classes="hint param-hint"))
        if not fields:
            fields.append(Label("This runbook takes no parameters.", classes="hint"))
        await form.mount_all(fields)

    def _fill_target(self, book: RunbookInfo) -> None:
        """The target follows the runbook picked (its declared `target`) until the
        operator types one; a pattern brought from the inventory filter comes first."""
        pattern = self.query_one("#run-pattern", Input)
        if pattern.value != self._auto_pattern:
            return
        self._auto_pattern = self.initial_pattern or book.target or ""
        pattern.value = self._auto_pattern
        pattern.cursor_position = len(pattern.value)

    @on(Input.Changed, "#run-search")
    async def _search(self, event: Input.Changed) -> None:
        await self._refresh_books(event.value)

    @on(SearchInput.Move)
    def _move(self, event: SearchInput.Move) -> None:
        options = self.query_one("#run-books", OptionList)
        getattr(options, f"action_{event.action}")()

    @on(OptionList.OptionHighlighted, "#run-books")
    async def _highlight(self, event: OptionList.OptionHighlighted) -> None:
        book = next((b for b in self.books if b.name == event.option.id), None)
        if book is not None:
            await self._choose(book)

    @on(OptionList.OptionSelected, "#run-books")
    def _picked(self) -> None:
        if self.chosen is not None:
            self.set_focus(self.query_one("#run-pattern", Input))

    async def enter_in(self, field: Input) -> None:
        """Enter in the search picks the highlighted runbook and moves to the target."""
        if field.id != "run-search":
            await super().enter_in(field)
        elif self.chosen is None:
            self._error("No runbook picked: type part of its name, Up/Down, then Enter.")
        else:
            self.set_focus(self.query_one("#run-pattern", Input))

    @on(Input.Changed, "#run-pattern")
    def _pattern(self, event: Input.Changed) -> None:
        self.query_one("#run-count", PatternCount).show(event.value)

    def raw_parameters(self) -> dict[str, str]:
        """Only the fields the operator filled: empty means 'use the default'."""
        raw = {}
        for field in self.query(".param").results(Input):
            if field.value.strip() and field.id:
                raw[field.id.removeprefix("param-")] = field.value
        return raw

    def _error(self, message: str) -> None:
        self.query_one("#run-error", Static).update(message)

    @on(Button.Pressed, "#run-start")
    def _start_pressed(self) -> None:
        self.after_typing(self.submit)

    async def submit(self) -> None:
        if self.chosen is None:
            self._error("Pick a runbook first: type part of its name, then Enter.")
            self.set_focus(self.query_one("#run-search", Input))
            return
        target = self.query_one("#run-pattern", Input)
        pattern = target.value.strip()
        if not self.query_one("#run-count", PatternCount).show(pattern):
            self._error(
                "Type a target that matches at least one host."
                if not pattern
                else f"The target {pattern!r} matches no host."
            )
            self.set_focus(target)
            return
        client = client_of(self)
        raw = self.raw_parameters()
        try:
            await client.check_parameters(self.chosen.name, raw)
            job = await client.start_job(self.chosen.name, pattern, raw)
        except OpsError as exc:
            self._error(str(exc))
            return
        self.dismiss(job)

    @on(Button.Pressed, "#run-cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)


class CommandDialog(FormDialog[Job | None]):
    """An ad-hoc command on a pattern, recorded as a job like any other."""

    def __init__(self, pattern: str = "") -> None:
        super().__init__()
        self.initial_pattern = pattern

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label("Run a command", classes="dialog-title")
            yield FieldRow(
                "Target",
                Input(self.initial_pattern, placeholder="host, group or pattern", id="cmd-pattern"),
            )
            yield PatternCount("", id="cmd-count", classes="hint count")
            yield FieldRow("Command", Input(placeholder="e.g. uptime", id="cmd-command"))
            yield from form_footer("cmd", "Start", "Enter in Command starts")

    def on_mount(self) -> None:
        self.query_one("#cmd-count", PatternCount).show(self.initial_pattern)
        self.set_focus(self.query_one("#cmd-pattern", Input))

    @on(Input.Changed, "#cmd-pattern")
    def _pattern(self, event: Input.Changed) -> None:
        self.query_one("#cmd-count", PatternCount).show(event.value)

    async def enter_in(self, field: Input) -> None:
        """Enter in the command starts it, as in a shell."""
        if field.id == "cmd-command":
            self.after_typing(self.submit)
        else:
            await super().enter_in(field)

    @on(Button.Pressed, "#cmd-start")
    def _start_pressed(self) -> None:
        self.after_typing(self.submit)

    async def submit(self) -> None:
        target = self.query_one("#cmd-pattern", Input)
        pattern = target.value.strip()
        command = self.query_one("#cmd-command", Input).value.strip()
        error = self.query_one("#cmd-error", Static)
        if not self.query_one("#cmd-count", PatternCount).show(pattern):
            error.update(
                "Type a target that matches at least one host."
                if not pattern
                else f"The target {pattern!r} matches no host."
            )
            self.set_focus(target)
            return
        if not command:
            error.update("Type the command to run.")
            self.set_focus(self.query_one("#cmd-command", Input))
            return
        try:
            job = await client_of(self).start_command(pattern, command)
        except OpsError as exc:
            error.update(str(exc))
            return
        self.dismiss(job)

    @on(Button.Pressed, "#cmd-cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)
