"""The Updates pane (key 3): every host with its pending updates counted by
classification, reboot pending, last assessment and compliance (no Critical or
Security update pending), at a glance.

Rows come from `client.updates.assessments()` in a worker, on start, on ctrl+r and
whenever an `(updates assess)` or `(updates deploy)` job finishes, whoever started it.
`/` filters (host words, `noncompliant`, `reboot`), `s` sorts by host or least
compliant first, Enter shows the host's pending packages, `a` assesses the row's host
now (`U` every host), `d` opens the deployment dialog for the row's host, `R` lists the
recent deployment runs with their per-host results. The table draws only visible rows
(`VirtualTable`): 10,000 hosts stay instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import Input, Static

from console.errors import OpsError
from console.jobs.events import EngineEvent
from console.jobs.model import Job
from console.updates.model import Assessment
from screens.commands import UPDATES, bindings_for
from screens.context import client_of
from screens.deploy_dialog import DeployDialog, Scheduled
from screens.filtered_list import FilteredListPane
from screens.status_line import StatusLine
from screens.update_views import RECENT_RUNS, PackagesView, RunsView
from screens.updates_rows import SORTS, cells, compliance, ordered, parse_filter, updates_class
from screens.vtable import Column, VirtualTable

ASSESS_RUNBOOK = "(updates assess)"
DEPLOY_RUNBOOK = "(updates deploy)"
COLUMNS = (
    Column("Host", 14),
    Column("Critical", 8),
    Column("Security", 8),
    Column("Other", 5),
    Column("Total", 5),
    Column("Reboot", 6),
    Column("Assessed", 11),
    Column("Compliant", 9),
)


class UpdatesPane(FilteredListPane):
    TABLE_ID = "updates-table"
    FILTER_ID = "updates-filter"
    BINDINGS: ClassVar[list[BindingType]] = bindings_for(UPDATES)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.assessments: dict[str, Assessment] = {}
        self.sort = SORTS[0]
        self.error = ""
        self._ordered: list[Assessment] = []
        self._shown = 0
        self._noncompliant = 0

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter: host words, noncompliant, reboot",
            id=self.FILTER_ID,
            classes="filter",
        )
        yield StatusLine("", id="updates-status", classes="status-line", markup=False)
        yield VirtualTable(
            COLUMNS, updates_class, empty_text="No host in the inventory.", id=self.TABLE_ID
        )

    # -- data ------------------------------------------------------------------------

    @work(exclusive=True, group="updates-load")
    async def reload(self) -> None:
        try:
            found = await client_of(self).updates.assessments("all")
        except OpsError as exc:
            self.error = str(exc)
            self.show_status()
            return
        self.error = ""
        self.show(found)

    def show(self, assessments: Sequence[Assessment]) -> None:
        self.assessments = {a.host: a for a in assessments}
        self._ordered = ordered(assessments, self.sort)
        self._noncompliant = sum(compliance(a) == "NO" for a in assessments)
        self.apply_filter()

    def apply_filter(self) -> None:
        wanted = parse_filter(self.filter_input.value)
        rows = [(a.host, cells(a)) for a in self._ordered if wanted.keeps(a)]
        self._shown = len(rows)
        self.table.set_rows(rows)
        self.show_status()

    def show_status(self) -> None:
        status = self.query_one("#updates-status", Static)
        status.set_class(bool(self.error), "error")
        if self.error:
            status.update(self.error)
            return
        where, keys = self.filter_hint("Enter packages")
        status.update(
            f"{self._shown} of {len(self.assessments)} hosts, {self._noncompliant} NOT compliant, "
            f"by {self.sort}{where}   {keys}"
        )

    def engine_event(self, event: EngineEvent) -> None:
        """An assessment or a deployment that finished changed some hosts' updates."""
        job = event.job
        if event.missed or (
            job is not None
            and job.runbook in (ASSESS_RUNBOOK, DEPLOY_RUNBOOK)
            and job.status.finished
        ):
            self.reload()

    # -- actions ---------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == self.FILTER_ID:
            self.apply_filter()

    def _current(self) -> Assessment | None:
        return self.assessments.get(self.table.cursor_key or "")

    def action_reload(self) -> None:
        self.reload()

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._ordered = ordered(list(self.assessments.values()), self.sort)
        self.apply_filter()

    def action_packages(self) -> None:
        self.table.action_select()

    def on_virtual_table_selected(self, event: VirtualTable.Selected) -> None:
        event.stop()
        assessment = self.assessments.get(event.key)
        if assessment is not None:
            self.app.push_screen(PackagesView(assessment))

    @work(group="updates-action")
    async def action_assess(self) -> None:
        current = self._current()
        if current is not None:
            await self._assess(current.host)

    @work(group="updates-action")
    async def action_assess_all(self) -> None:
        await self._assess("all")

    async def _assess(self, pattern: str) -> None:
        try:
            job = await client_of(self).updates.assess(pattern)
        except OpsError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        what = "every host" if pattern == "all" else pattern
        self.notify(f"Assessing {what}: job {job.id}", timeout=4, markup=False)

    def action_deploy(self) -> None:
        current = self._current()
        if current is not None:
            self.app.push_screen(DeployDialog(current.host), self._deploy_started)

    def _deploy_started(self, answer: Job | Scheduled | None) -> None:
        if isinstance(answer, Scheduled):
            when = f"next run {answer.next_run}" if answer.next_run else "no run ahead"
            self.notify(f"Deployment {answer.name} scheduled: {when}", timeout=6, markup=False)
        elif answer is not None:
            hosts = f"{len(answer.hosts)} host{'s' if len(answer.hosts) != 1 else ''}"
            self.notify(f"Deploying updates to {hosts}: job {answer.id}", timeout=6, markup=False)

    @work(group="updates-action")
    async def action_runs(self) -> None:
        client = client_of(self)
        try:
            jobs = await client.jobs(runbook=DEPLOY_RUNBOOK, limit=RECENT_RUNS)
            runs = [(job, await client.updates.results(job.id)) for job in jobs]
        except OpsError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.app.push_screen(RunsView(runs))
