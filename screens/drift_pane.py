"""The Drift pane (key 2): every host under every configuration assigned to it, with its
node status, drifted-resource count, last check and the job that made it.

Rows come from `client.state.status()` in a worker, on start, on ctrl+r and whenever a
state job (`(state check)`, `(state apply)`) finishes, whoever started it. `/` filters
(`status:NotCompliant`, words in the host or configuration name), `s` sorts by host or
worst status first, Enter shows the row's report, `c` checks the row now (`K` every
configuration everywhere), `a` applies after a confirmation listing the changes, `J`
opens the row's last job. The table draws only visible rows (`VirtualTable`), and a
filter or sort is one pass over plain tuples: 10,000 rows stay instant.

With no configuration the pane says how to add one; a configuration file that cannot
be used is listed with its problem above the table.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import Input, Static

from console.errors import OpsError
from console.jobs.events import EngineEvent
from console.jobs.model import Job
from console.state.model import ConfigurationInfo, NodeState
from screens.apply_dialog import ApplyDialog
from screens.commands import DRIFT, bindings_for
from screens.context import client_of, open_job
from screens.drift_rows import (
    SORTS,
    FilterError,
    cells,
    drift_class,
    ordered,
    parse_filter,
    row_key,
)
from screens.filtered_list import FilteredListPane
from screens.state_report import StateReport
from screens.status_line import StatusLine
from screens.vtable import Column, VirtualTable

STATE_RUNBOOKS = ("(state check)", "(state apply)")
COLUMNS = (
    Column("Host", 14),
    Column("Configuration", 14),
    Column("Status", 12),
    Column("Drifted", 7),
    Column("Last check", 11),
    Column("Job", 8),
)
# A paragraph without line breaks inside: the Static wraps it to the terminal's width.
NO_CONFIGURATIONS = (
    "Drift: no desired-state configuration.\n\n"
    "A configuration is a YAML file (one per configuration, named by its file stem) "
    "that says which resources the hosts it targets should have. Put them in a "
    "folder and start opsconsole with --configurations DIR (or set "
    "OPSCONSOLE_CONFIGURATIONS); a ./configurations folder is used when it exists. "
    "The format and an example are in docs/state.md.\n\n"
    "Then this pane lists each host's node status per configuration, with the "
    "drifted resources' diffs. ctrl+r reloads."
)
FINISHED_KEPT = 256  # finished state jobs remembered (see `_mark`)


class DriftPane(FilteredListPane):
    TABLE_ID = "drift-table"
    FILTER_ID = "drift-filter"
    BINDINGS: ClassVar[list[BindingType]] = bindings_for(DRIFT)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.states: dict[str, NodeState] = {}
        self.configurations: list[ConfigurationInfo] = []
        self.sort = SORTS[0]
        self.error = ""
        self._ordered: list[NodeState] = []
        self._shown = 0
        # Rows whose check or apply the operator started here: row key -> (what, job id).
        self._started_here: dict[str, tuple[str, str]] = {}
        self._finished: deque[str] = deque(maxlen=FINISHED_KEPT)

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter: host or configuration words, status:NotCompliant",
            id="drift-filter",
            classes="filter",
        )
        yield StatusLine("", id="drift-status", classes="status-line", markup=False)
        yield Static(NO_CONFIGURATIONS, id="drift-hint", classes="empty-state", markup=False)
        yield Static("", id="drift-problems", classes="error", markup=False)
        yield VirtualTable(
            COLUMNS,
            drift_class,
            empty_text="No host is assigned a configuration.",
            id="drift-table",
        )

    @property
    def focus_target(self) -> DriftPane | VirtualTable:
        """The list, or the pane itself while it only shows how to add a configuration
        (so its keys, ctrl+r among them, still reach it)."""
        return self.table if self.table.display else self

    # -- data ------------------------------------------------------------------------

    @work(exclusive=True, group="drift-load")
    async def reload(self) -> None:
        state = client_of(self).state
        try:
            configurations = await state.configurations()
            nodes = await state.status()
        except OpsError as exc:
            self.error = str(exc)
            self.show_status()
            return
        self.error = ""
        self.show(configurations, nodes)

    def show(self, configurations: Sequence[ConfigurationInfo], nodes: Sequence[NodeState]) -> None:
        self.configurations = list(configurations)
        self.states = {row_key(n.host, n.configuration): n for n in nodes}
        self._ordered = ordered(nodes, self.sort)
        empty = not self.configurations
        self.query_one("#drift-hint").display = empty
        self.table.display = not empty
        self.can_focus = empty
        problems = [
            f"Configuration {c.name}: {c.problem}" for c in self.configurations if c.problem
        ]
        shown_problems = self.query_one("#drift-problems", Static)
        shown_problems.update("\n".join(problems))
        shown_problems.display = bool(problems)
        self.apply_filter()
        if self.screen.focused in (self, self.table):  # the list (dis)appeared under it
            self.screen.set_focus(self.focus_target)

    def apply_filter(self) -> None:
        try:
            wanted = parse_filter(self.filter_input.value)
        except FilterError as exc:
            self.error = f"Filter: {exc}"
            self.show_status()
            return
        self.error = ""
        rows = []
        for state in self._ordered:
            if wanted.keeps(state):
                key = row_key(state.host, state.configuration)
                rows.append((key, self._cells(key, state)))
        self._shown = len(rows)
        self.table.set_rows(rows)
        self.show_status()

    def _cells(self, key: str, state: NodeState) -> tuple[str, ...]:
        return cells(state, *self._started_here.get(key, ("", "")))

    def show_status(self) -> None:
        status = self.query_one("#drift-status", Static)
        status.set_class(bool(self.error), "error")
        status.display = bool(self.configurations or self.error)
        if self.error:
            status.update(self.error)
            return
        where, keys = self.filter_hint("Enter report")
        status.update(f"{self._shown} of {len(self.states)} rows, by {self.sort}{where}   {keys}")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Without configurations only ctrl+r applies (the footer offers nothing else)."""
        if not self.configurations and action != "reload":
            return False
        return super().check_action(action, parameters)

    def engine_event(self, event: EngineEvent) -> None:
        """A state job that finished changed some rows' reports: read them again."""
        job = event.job
        if event.missed:
            self.reload()
        elif job is not None and job.runbook in STATE_RUNBOOKS and job.status.finished:
            self._finished.append(job.id)
            self._started_here = {k: v for k, v in self._started_here.items() if v[1] != job.id}
            self.reload()

    def _mark(self, keys: Sequence[str], what: str, job: Job) -> None:
        """Show at once that a job runs for these rows, and its id; unless the job
        already finished (its event can arrive before the call that started it
        returns here), when the reload it caused shows its result."""
        if job.id in self._finished:
            return
        for key in keys:
            self._started_here[key] = (what, job.id)
            if key in self.states:
                self.table.update_row(key, self._cells(key, self.states[key]))

    # -- actions ---------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == self.FILTER_ID:
            self.apply_filter()

    def _current(self) -> NodeState | None:
        return self.states.get(self.table.cursor_key or "")

    def action_reload(self) -> None:
        self.reload()

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._ordered = ordered(list(self.states.values()), self.sort)
        self.apply_filter()

    def action_report(self) -> None:
        self.table.action_select()

    def on_virtual_table_selected(self, event: VirtualTable.Selected) -> None:
        event.stop()
        state = self.states.get(event.key)
        if state is not None:
            self.open_report(state)

    @work(group="drift-action")
    async def open_report(self, state: NodeState) -> None:
        try:
            report = await client_of(self).state.report(state.host, state.configuration)
        except OpsError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        if report is None:
            self.notify(
                f"{state.host} was never checked under {state.configuration} (Pending): "
                "press c to check it now.",
                timeout=5,
                markup=False,
            )
            return
        self.app.push_screen(StateReport(report))

    def action_job(self) -> None:
        state = self._current()
        if state is None:
            return
        key = row_key(state.host, state.configuration)
        job_id = self._started_here.get(key, ("", ""))[1] or state.job_id
        if job_id:
            open_job(self, job_id)
        else:
            self.notify(
                f"No job yet for {state.host} under {state.configuration}.", timeout=3, markup=False
            )

    @work(group="drift-action")
    async def action_check(self) -> None:
        state = self._current()
        if state is None:
            return
        try:
            jobs = await client_of(self).state.check(state.configuration, pattern=state.host)
        except OpsError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        for job in jobs:
            self._mark([row_key(state.host, state.configuration)], "checking", job)
            self.notify(
                f"Checking {state.configuration} on {state.host}: job {job.id}",
                timeout=3,
                markup=False,
            )

    @work(group="drift-action")
    async def action_check_all(self) -> None:
        try:
            jobs = await client_of(self).state.check()
        except OpsError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        for job in jobs:
            config = str(job.parameters.get("configuration", ""))
            keys = [k for k, s in self.states.items() if s.configuration == config]
            self._mark(keys, "checking", job)
        self.notify(
            f"Checking every configuration: {len(jobs)} job(s) started", timeout=3, markup=False
        )

    @work(group="drift-action")
    async def action_apply(self) -> None:
        state = self._current()
        if state is None:
            return
        admin = client_of(self).state
        try:
            report = await admin.report(state.host, state.configuration)
            dialog = ApplyDialog(state.host, state.configuration, report)
            if not await self.app.push_screen_wait(dialog):
                return
            job = await admin.apply(state.configuration, pattern=state.host)
        except OpsError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self._mark([row_key(state.host, state.configuration)], "applying", job)
        self.notify(
            f"Applying {state.configuration} to {state.host}: job {job.id}", timeout=3, markup=False
        )
