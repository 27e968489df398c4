"""Start a runbook (`r`) or an ad-hoc command (`x`): typed modals returning the new Job.

The runbook picker is fuzzy; the pattern field shows how many hosts match as you type
(`client.hosts`); the parameter form is generated from `RunbookInfo.parameters` and
validated by the engine (`client.check_parameters`), so the console and the CLI accept
and reject exactly the same values. Errors are shown in the dialog, which stays open.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.fuzzy import Matcher
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from console.client import ParameterInfo, RunbookInfo
from console.errors import OpsError
from console.jobs import Job
from screens.context import client_of


def describe(param: ParameterInfo) -> str:
    """The placeholder of a parameter's field: type, choices, default, required."""
    parts = [param.type]
    if param.choices:
        parts.append("one of " + "|".join(param.choices))
    if param.default is not None:
        parts.append(f"default {param.default}")
    if param.required:
        parts.append("required")
    return ", ".join(parts)


class PatternCount(Static):
    """'N hosts match' under a pattern field, or the pattern's error."""

    def show(self, pattern: str) -> bool:
        pattern = pattern.strip()
        if not pattern:
            self.update("Type a host, group or pattern (e.g. web:&prod:!web03).")
            return False
        try:
            count = len(client_of(self).hosts(pattern))
        except OpsError as exc:
            self.update(f"Pattern error: {exc}")
            self.set_class(True, "error")
            return False
        self.set_class(count == 0, "error")
        self.update(f"{count} host{'s' if count != 1 else ''} match")
        return count > 0


class RunDialog(ModalScreen[Job | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel"),
                Binding("ctrl+s", "submit", "Start", priority=True)]

    def __init__(self, pattern: str = "") -> None:
        super().__init__()
        self.books: list[RunbookInfo] = []
        self.chosen: RunbookInfo | None = None
        self.initial_pattern = pattern

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label("Run a runbook", classes="dialog-title")
            yield Input(placeholder="runbook (type to search)", id="run-search")
            yield OptionList(id="run-books")
            yield Input(self.initial_pattern, placeholder="target pattern", id="run-pattern")
            yield PatternCount("", id="run-count", classes="hint")
            yield VerticalScroll(id="run-form")
            yield Static("", id="run-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Start (ctrl+s)", id="run-start", variant="primary")
                yield Button("Cancel (esc)", id="run-cancel")

    def on_mount(self) -> None:
        self.query_one("#run-search", Input).focus()
        self.query_one("#run-count", PatternCount).show(self.initial_pattern)
        self.load_books()

    @work(exclusive=True)
    async def load_books(self) -> None:
        try:
            self.books = await client_of(self).runbooks()
        except OpsError as exc:
            self._error(str(exc))
            return
        await self._refresh_books("")

    async def _refresh_books(self, query: str) -> None:
        options = self.query_one("#run-books", OptionList)
        matcher = Matcher(query) if query else None
        scored = [(matcher.match(b.name) if matcher else 1.0, b) for b in self.books]
        ranked = sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], s[1].name))
        options.clear_options()
        # Text, not a markup string: "[shell]" must show, not be read as a style tag.
        options.add_options([Option(Text(f"{b.name}  [{b.language}] {b.description}"[:70]),
                                    id=b.name) for _, b in ranked])
        if ranked:
            options.highlighted = 0
            await self._choose(ranked[0][1])
        elif not self.books:
            self._error("No runbooks found in the runbooks folder.")

    async def _choose(self, book: RunbookInfo) -> None:
        if self.chosen is not None and self.chosen.name == book.name:
            return
        self.chosen = book
        pattern = self.query_one("#run-pattern", Input)
        if not pattern.value and book.target:
            pattern.value = book.target
        form = self.query_one("#run-form", VerticalScroll)
        await form.remove_children()
        fields: list[Widget] = []
        for param in book.parameters:
            default = "" if param.default is None else str(param.default)
            fields.append(Label(f"{param.name}{' *' if param.required else ''}"
                                f"  {param.description}".rstrip()))
            fields.append(Input(default, placeholder=describe(param),
                                id=f"param-{param.name}", classes="param"))
        if not fields:
            fields.append(Label("This runbook takes no parameters.", classes="hint"))
        await form.mount_all(fields)

    @on(Input.Changed, "#run-search")
    async def _search(self, event: Input.Changed) -> None:
        await self._refresh_books(event.value)

    @on(OptionList.OptionHighlighted, "#run-books")
    async def _highlight(self, event: OptionList.OptionHighlighted) -> None:
        book = next((b for b in self.books if b.name == event.option.id), None)
        if book is not None:
            await self._choose(book)

    @on(Input.Submitted, "#run-search")
    def _search_done(self) -> None:
        self.query_one("#run-pattern", Input).focus()

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
    @on(Input.Submitted, "#run-pattern, .param")
    async def action_submit(self) -> None:
        if self.chosen is None:
            self._error("Pick a runbook first.")
            return
        pattern = self.query_one("#run-pattern", Input).value.strip()
        if not self.query_one("#run-count", PatternCount).show(pattern):
            self._error("The target pattern matches no host.")
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
    def action_cancel(self) -> None:
        self.dismiss(None)


class CommandDialog(ModalScreen[Job | None]):
    """An ad-hoc command on a pattern, recorded as a job like any other."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel"),
                Binding("ctrl+s", "submit", "Start", priority=True)]

    def __init__(self, pattern: str = "") -> None:
        super().__init__()
        self.initial_pattern = pattern

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label("Run a command", classes="dialog-title")
            yield Input(self.initial_pattern, placeholder="target pattern", id="cmd-pattern")
            yield PatternCount("", id="cmd-count", classes="hint")
            yield Input(placeholder="command, e.g. uptime", id="cmd-command")
            yield Static("", id="cmd-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Start (ctrl+s)", id="cmd-start", variant="primary")
                yield Button("Cancel (esc)", id="cmd-cancel")

    def on_mount(self) -> None:
        self.query_one("#cmd-count", PatternCount).show(self.initial_pattern)
        self.query_one("#cmd-pattern", Input).focus()

    @on(Input.Changed, "#cmd-pattern")
    def _pattern(self, event: Input.Changed) -> None:
        self.query_one("#cmd-count", PatternCount).show(event.value)

    @on(Input.Submitted, "#cmd-pattern")
    def _next(self) -> None:
        self.query_one("#cmd-command", Input).focus()

    @on(Button.Pressed, "#cmd-start")
    @on(Input.Submitted, "#cmd-command")
    async def action_submit(self) -> None:
        pattern = self.query_one("#cmd-pattern", Input).value.strip()
        command = self.query_one("#cmd-command", Input).value.strip()
        error = self.query_one("#cmd-error", Static)
        if not self.query_one("#cmd-count", PatternCount).show(pattern):
            error.update("The target pattern matches no host.")
            return
        if not command:
            error.update("Type the command to run.")
            return
        try:
            job = await client_of(self).start_command(pattern, command)
        except OpsError as exc:
            error.update(str(exc))
            return
        self.dismiss(job)

    @on(Button.Pressed, "#cmd-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
