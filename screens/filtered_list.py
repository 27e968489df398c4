"""A pane that is a list with a `/` filter field above it (Inventory, Jobs).

The keys behave the same everywhere: `/` focuses the field at once (a key typed right
after it lands there), Enter goes back to the list, Esc in the field leaves it (the
filter stays), Esc on the list clears the filter, and under a dialog the pane's keys
are neither offered nor run. A subclass names its two widgets and says what its
status line shows.
"""

from __future__ import annotations

from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input

from screens.vtable import VirtualTable


class FilteredListPane(Vertical):
    TABLE_ID = ""
    FILTER_ID = ""

    @property
    def table(self) -> VirtualTable:
        return self.query_one(f"#{self.TABLE_ID}", VirtualTable)

    @property
    def filter_input(self) -> Input:
        return self.query_one(f"#{self.FILTER_ID}", Input)

    def show_status(self) -> None:
        """Refresh the status line (which keys it mentions depends on the focus)."""

    def filter_hint(self, list_keys: str) -> tuple[str, str]:
        """(" matching 'text'" or "", the keys that apply now) for the status line;
        `list_keys` are the pane's own keys on the list."""
        text = self.filter_input.value.strip()
        where = f" matching {text!r}" if text else ""
        if self.screen.focused is self.filter_input:
            return where, "Enter/Esc back to the list"
        return where, f"{'Esc clear filter' if text else '/ filter'}  {list_keys}"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    def on_descendant_focus(self) -> None:
        self.show_status()

    def on_descendant_blur(self) -> None:
        self.show_status()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """In the filter field `/` is typed (the priority binding stands aside); under
        a dialog the pane's keys are neither offered nor run."""
        if isinstance(self.app.screen, ModalScreen):
            return False
        return not (action == "filter" and self.screen.focused is self.filter_input)

    def action_filter(self) -> None:
        """A priority binding (see commands.py): focus at once, so a key typed right
        after `/` lands in the field."""
        self.filter_input.display = True
        self.screen.set_focus(self.filter_input)

    def action_clear_filter(self) -> None:
        """Esc in the field leaves it (the filter stays); Esc on the list clears it."""
        if self.screen.focused is self.filter_input and self.filter_input.value:
            self.table.focus()
            return
        self.filter_input.value = ""
        self.filter_input.display = False
        self.table.focus()
