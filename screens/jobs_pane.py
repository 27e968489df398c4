"""The Jobs pane: queued, running and finished jobs, newest first, updating live.

History is paged from the engine (`client.jobs(limit=..., before_id=...)`): the next
page loads when the cursor nears the end, so 100,000 jobs in history cost one page.
`/` filters by status (a status name such as "failed") or else by runbook name; both
filters are applied by the engine.
"""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import Input, Static

from console.jobs.events import EngineEvent
from console.jobs.model import Job, JobStatus
from screens.commands import JOBS, bindings_for
from screens.context import client_of
from screens.filtered_list import FilteredListPane
from screens.format import job_row, status_class
from screens.status_line import StatusLine
from screens.vtable import Column, VirtualTable

PAGE = 200
PRELOAD = 20  # rows from the end at which the next page is fetched

COLUMNS = (
    Column("Status", 9),
    Column("Runbook", 13),
    Column("Pattern", 9),
    Column("Started by", 12),  # a user, or schedule:NAME, webhook:NAME, job:PARENT
    Column("Started", 14),
    Column("Time", 6),
    Column("Hosts", 8),
)


def status_filter(text: str) -> JobStatus | None:
    for status in JobStatus:
        if status.value.lower() == text.lower():
            return status
    return None


class JobsPane(FilteredListPane):
    TABLE_ID = "jobs-table"
    FILTER_ID = "jobs-filter"
    BINDINGS: ClassVar[list[BindingType]] = bindings_for(JOBS)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._exhausted = False
        self._loading = False
        # Active jobs as last published whole: host-run events update them in place.
        self._active: dict[str, Job] = {}

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter: a status (failed, running...) or a runbook name",
            id="jobs-filter",
            classes="filter",
        )
        yield StatusLine("", id="jobs-status", classes="status-line")
        yield VirtualTable(
            COLUMNS,
            status_class,
            empty_text="No jobs yet. Press r to run a runbook, x for a command.",
            id="jobs-table",
        )

    def _query(self) -> dict[str, object]:
        text = self.filter_input.value.strip()
        if not text:
            return {}
        status = status_filter(text)
        return {"status": status} if status else {"runbook": text}

    def _matches(self, job: Job) -> bool:
        query = self._query()
        if "status" in query:
            return job.status is query["status"]
        if "runbook" in query:
            return job.runbook == query["runbook"]
        return True

    @work(exclusive=True, group="jobs-load")
    async def reload(self) -> None:
        """First page again (after a filter change or on request)."""
        jobs = await client_of(self).jobs(limit=PAGE, **self._query())  # type: ignore[arg-type]
        self._exhausted = len(jobs) < PAGE
        self._active = {j.id: j for j in jobs if not j.status.finished}
        self.table.set_rows([(j.id, job_row(j)) for j in jobs])
        self.show_status()

    @work(exclusive=True, group="jobs-page")
    async def load_more(self) -> None:
        if self._exhausted or self._loading or not self.table.row_count:
            return
        self._loading = True
        try:
            last = self.table.keys[-1]
            jobs = await client_of(self).jobs(limit=PAGE, before_id=last, **self._query())  # type: ignore[arg-type]
            self._exhausted = len(jobs) < PAGE
            self.table.append_rows([(j.id, job_row(j)) for j in jobs])
            self.show_status()
        finally:
            self._loading = False

    def show_status(self) -> None:
        more = "" if self._exhausted else "+ (more load as you scroll)"
        where, keys = self.filter_hint("Enter open")
        self.query_one("#jobs-status", Static).update(
            f"{self.table.row_count}{more} jobs{where}   {keys}"
        )

    def engine_event(self, event: EngineEvent) -> None:
        """A job's own change brings the whole job; a host run's change only that run,
        applied to the job kept from its last whole event. Lost events: reload."""
        if event.missed:
            self._active.clear()
            self.reload()
            return
        job = event.job
        if job is None:
            job = self._active.get(event.job_id)
            if event.run is None or job is None:
                return
            job.host_runs[event.run.host] = event.run
            self.table.update_row(job.id, job_row(job))
            return
        if job.status.finished:
            self._active.pop(job.id, None)
        else:
            self._active[job.id] = job
        if not self.table.update_row(job.id, job_row(job)) and self._matches(job):
            self.table.prepend_row(job.id, job_row(job))
            self.show_status()

    def on_virtual_table_highlighted(self, event: VirtualTable.Highlighted) -> None:
        if event.index >= self.table.row_count - PRELOAD:
            self.load_more()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "jobs-filter":
            self.reload()

    def action_reload(self) -> None:
        self.reload()

    def action_open(self) -> None:
        self.table.action_select()
