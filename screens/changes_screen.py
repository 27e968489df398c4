"""Changes (`C`, or "Changes" in the palette): what changed on the hosts, newest first.

The filter field takes `host:NAME type:TYPE words` (see `change_format.parse_filter`);
the engine filters (`client.changes.changes`), so a filter reaches the whole log, not
only the rows loaded. Rows come a page at a time: moving to the last row loads the
next older page (`before_id`). Enter shows the change as a diff.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.screen import Screen
from textual.widgets import Input, Static

from console.changes.model import Change
from console.errors import OpsError
from screens.change_format import change_cells, parse_filter
from screens.commands import CHANGES, bindings_for
from screens.context import client_of
from screens.diff_view import ChangeDiff
from screens.key_footer import KeyFooter
from screens.status_line import StatusLine
from screens.vtable import Column, VirtualTable

PAGE = 200  # changes per request; the next page loads at the last row
CHANGE_COLUMNS = (
    Column("Time", 11),
    Column("Host", 11),
    Column("Type", 8),
    Column("Change", 8),
    Column("Name", 18),
    Column("Before -> after", 12),
)
FILTER_HINT = "filter: host:web01 type:file|software|service|fact text"


def change_class(column: int, text: str) -> str | None:
    """Added and removed read at a glance in the Change column."""
    if column != 3:
        return None
    return {"added": "status--ok", "removed": "status--failed"}.get(text)


class ChangesScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = bindings_for(CHANGES)

    def __init__(self) -> None:
        super().__init__()
        self.changes: dict[str, Change] = {}
        self.more = False  # the last page was full: older changes may follow
        self.error = ""

    def compose(self) -> ComposeResult:
        yield Static("Changes: newest first, across hosts", id="changes-header")
        yield Input(placeholder=FILTER_HINT, id="changes-filter")
        yield VirtualTable(
            CHANGE_COLUMNS,
            change_class,
            empty_text="No changes recorded (inventory collect finds them).",
            id="changes-table",
        )
        yield StatusLine("", id="changes-status", classes="status-line")
        yield KeyFooter()

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#changes-table", VirtualTable)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#changes-filter", Input)

    def on_mount(self) -> None:
        self.table.focus()
        self.action_reload()

    # -- loading ---------------------------------------------------------------------

    @work(exclusive=True, group="changes-load")
    async def action_reload(self) -> None:
        """The newest page for the current filter (replaces what is shown)."""
        page = await self._page(None)
        if page is not None:
            self.changes = {c.id: c for c in page}
            self.table.set_rows([(c.id, change_cells(c)) for c in page])
        self._show_status()

    @work(exclusive=True, group="changes-load")
    async def load_older(self) -> None:
        keys = self.table.keys
        page = await self._page(keys[-1] if keys else None)
        if page:
            self.changes.update((c.id, c) for c in page)
            self.table.append_rows([(c.id, change_cells(c)) for c in page])
        self._show_status()

    async def _page(self, before_id: str | None) -> list[Change] | None:
        wanted = parse_filter(self.filter_input.value)
        try:
            page = await client_of(self).changes.changes(
                host=wanted.host,
                type=wanted.type,
                text=wanted.text,
                limit=PAGE,
                before_id=before_id,
            )
        except OpsError as exc:
            self.error = str(exc)
            return None
        self.error = ""
        self.more = len(page) == PAGE
        return page

    def _show_status(self) -> None:
        status = self.query_one("#changes-status", Static)
        status.set_class(bool(self.error), "error")
        if self.error:
            status.update(self.error)
            return
        count = self.table.row_count
        shown = f"{count}{'+' if self.more else ''} change{'' if count == 1 else 's'}"
        if self.screen.focused is self.filter_input:
            status.update(f"{shown}  Enter/Esc back to the list")
        else:
            status.update(f"{shown}  / filter  Enter diff  ctrl+r reload  Esc back")

    # -- keys ------------------------------------------------------------------------

    @on(Input.Changed, "#changes-filter")
    def _filter_changed(self) -> None:
        self.action_reload()

    @on(Input.Submitted, "#changes-filter")
    def _filter_submitted(self) -> None:
        self.table.focus()

    @on(VirtualTable.Highlighted, "#changes-table")
    def _highlighted(self, event: VirtualTable.Highlighted) -> None:
        if self.more and event.index == self.table.row_count - 1:
            self.more = False  # one request for the next page, not one per key
            self.load_older()

    @on(VirtualTable.Selected, "#changes-table")
    def _selected(self, event: VirtualTable.Selected) -> None:
        event.stop()
        self.action_open()

    def on_descendant_focus(self) -> None:
        self._show_status()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """In the filter field `/` is typed (the priority binding stands aside)."""
        return not (action == "filter" and self.focused is self.filter_input)

    def action_filter(self) -> None:
        self.set_focus(self.filter_input)

    def action_open(self) -> None:
        change = self.changes.get(self.table.cursor_key or "")
        if change is not None:
            self.app.push_screen(ChangeDiff(change))

    def action_close(self) -> None:
        """Esc in the field goes back to the list (the filter stays); Esc on the list
        clears a filter first, then leaves the view."""
        if self.focused is self.filter_input:
            self.table.focus()
        elif self.filter_input.value:
            self.filter_input.value = ""
        else:
            self.dismiss(None)
