"""One job, opened: a host-by-status grid and the live output of the selected host.

Records arriving from the engine are buffered and written to the output view once per
frame (20 times a second), so a chatty job cannot starve the keyboard. `/` filters the
grid (a status name such as "failed", else part of a host name). The footer offers
only what applies to the job's state: Stop while it runs, Rerun once it has finished.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.screen import Screen
from textual.widgets import Input, Static

from console.errors import OpsError
from console.jobs.events import EngineEvent
from console.jobs.model import HostRun, Job, JobStatus, StreamRecord
from screens.commands import JOB, bindings_for
from screens.context import client_of
from screens.format import clock, job_duration, status_class
from screens.key_footer import KeyFooter
from screens.logview import MAX_LINES, LogView
from screens.status_line import StatusLine
from screens.vtable import Column, VirtualTable

FLUSH_INTERVAL = 1 / 20

HOST_COLUMNS = (Column("Host", 20), Column("Status", 10), Column("Exit", 5), Column("Error", 20))
# Once a host run of the job ran on a worker (worker groups), the grid names the worker.
WORKER_HOST_COLUMNS = (HOST_COLUMNS[0], Column("Worker", 16), *HOST_COLUMNS[1:])
STOPPABLE = (JobStatus.QUEUED, JobStatus.STARTING, JobStatus.RUNNING)


def host_cells(job: Job, host: str, with_worker: bool = False) -> tuple[str, ...]:
    run = job.host_runs[host]
    code = "-" if run.exit_code is None else str(run.exit_code)
    if with_worker:
        return (host, run.worker or "-", run.status.value, code, run.error_text or "")
    return (host, run.status.value, code, run.error_text or "")


class JobScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = bindings_for(JOB)

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.job: Job | None = None
        self.selected: str | None = None
        self.records: dict[str, deque[StreamRecord]] = defaultdict(lambda: deque(maxlen=MAX_LINES))
        self._pending: list[StreamRecord] = []
        self._loaded = False
        self._early: list[EngineEvent] = []
        self._worker_column = False

    def compose(self) -> ComposeResult:
        yield Static(f"Job {self.job_id}: loading...", id="job-header")
        yield Input(
            placeholder="filter hosts: a status (failed, running...) or part of a name",
            id="job-filter",
            classes="filter",
        )
        yield StatusLine("", id="job-hosts-status", classes="status-line")
        yield VirtualTable(HOST_COLUMNS, status_class, empty_text="No hosts.", id="job-hosts")
        yield StatusLine("Output", id="job-output-title", classes="status-line")
        yield LogView(id="job-output")
        yield KeyFooter()

    @property
    def hosts_table(self) -> VirtualTable:
        return self.query_one("#job-hosts", VirtualTable)

    @property
    def output(self) -> LogView:
        return self.query_one("#job-output", LogView)

    def on_mount(self) -> None:
        self.hosts_table.focus()
        self.set_interval(FLUSH_INTERVAL, self._flush)
        self.set_interval(1, self._tick)
        self.load()

    @work(exclusive=True, group="job-load")
    async def load(self) -> None:
        client = client_of(self)
        job = await client.job(self.job_id)
        for record in await client.streams(self.job_id):
            self.records[record.host].append(record)
        self._show_job(job)
        self._add_worker_column(job)
        self._show_hosts()
        self._select(self.hosts_table.cursor_key)
        self._loaded = True
        early, self._early = self._early, []
        for event in early:
            self.engine_event(event, replay=True)

    def _show_job(self, job: Job) -> None:
        if self.job is None or self.job.status is not job.status:
            self.refresh_bindings()  # Stop, Rerun and Rerun failed follow the state
        self.job = job
        reason = f"  ({job.reason})" if job.reason else ""
        self.query_one("#job-header", Static).update(
            f"{job.runbook} on {job.pattern}   {job.status.value}{reason}\n"
            f"id {job.id}  by {job.started_by}  started {clock(job.started)}"
            f"  time {job_duration(job)}  hosts {len(job.hosts)}"
        )

    def _tick(self) -> None:
        """The header's running time counts up while the job is active."""
        if self.job is not None and not self.job.status.finished:
            self._show_job(self.job)

    def engine_event(self, event: EngineEvent, replay: bool = False) -> None:
        if event.missed and self._loaded:
            self._reload()  # events were lost: read the job and its output again
            return
        if event.job_id != self.job_id:
            return
        if not self._loaded:
            self._early.append(event)
            return
        if event.run is not None and self.job is not None:
            self._show_run(self.job, event.run)
        if event.job is not None:
            self._show_job(event.job)
            if self._add_worker_column(event.job) or self.filter_text():
                self._show_hosts()  # a host may enter or leave the filtered grid
            else:
                for host in event.job.hosts:
                    self.hosts_table.update_row(host, self._cells(event.job, host))
                self._show_hosts_status()
        for record in event.records:
            known = self.records[record.host]
            if replay and known and record.time <= known[-1].time:
                continue  # already fetched with the history
            known.append(record)
            if record.host == self.selected:
                self._pending.append(record)

    def _show_run(self, job: Job, run: HostRun) -> None:
        """One host run changed (the engine sends only that run)."""
        job.host_runs[run.host] = run
        if self._add_worker_column(job) or self.filter_text():
            self._show_hosts()  # the host may enter or leave the filtered grid
        else:
            self.hosts_table.update_row(run.host, self._cells(job, run.host))
            self._show_hosts_status()

    def _cells(self, job: Job, host: str) -> tuple[str, ...]:
        return host_cells(job, host, with_worker=self._worker_column)

    def _add_worker_column(self, job: Job) -> bool:
        """Show the Worker column from the first host run that ran on a worker (a job
        the engine ran alone keeps the grid it always had); True when it was added."""
        if self._worker_column or not any(r.worker for r in job.host_runs.values()):
            return False
        self._worker_column = True
        self.hosts_table.columns = WORKER_HOST_COLUMNS
        return True

    def _reload(self) -> None:
        self._loaded = False
        self.records.clear()
        self._pending = []
        self.load()

    # -- the host grid and its filter ---------------------------------------------------

    @property
    def filter_input(self) -> Input:
        return self.query_one("#job-filter", Input)

    def filter_text(self) -> str:
        return self.filter_input.value.strip().lower()

    def _shown_hosts(self, job: Job) -> list[str]:
        """Hosts whose name contains the filter text or whose status starts with it
        ("fail" finds the Failed ones)."""
        text = self.filter_text()
        if not text:
            return list(job.hosts)
        return [
            h
            for h in job.hosts
            if text in h.lower() or job.host_runs[h].status.value.lower().startswith(text)
        ]

    def _show_hosts(self) -> None:
        if self.job is None:
            return
        job = self.job
        self.hosts_table.set_rows([(h, self._cells(job, h)) for h in self._shown_hosts(job)])
        self._show_hosts_status()

    def _show_hosts_status(self) -> None:
        if self.job is None:
            return
        counts: dict[str, int] = {}
        for run in self.job.host_runs.values():
            counts[run.status.value] = counts.get(run.status.value, 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in counts.items())
        text = self.filter_input.value.strip()
        total = len(self.job.hosts)
        shown = (
            f"{self.hosts_table.row_count} of {total} hosts matching {text!r}"
            if text
            else f"{total} host{'s' if total != 1 else ''}"
        )
        self.query_one("#job-hosts-status", Static).update(f"{shown}: {summary}")

    def on_input_changed(self, event: Input.Changed) -> None:
        self._show_hosts()  # the cursor's new row is selected through Highlighted
        if self.hosts_table.cursor_key is None:
            self._select(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.hosts_table.focus()

    def _flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self.output.write_records(batch)

    def _select(self, host: str | None) -> None:
        self.selected = host
        self._pending = []
        self.output.clear()
        if host is not None:
            self.output.write_records(self.records[host])
        self.query_one("#job-output-title", Static).update(
            f"Output of {host}   (up/down in the grid picks a host, tab moves focus)"
            if host
            else "Output (no host selected: the filter matches none)"
        )

    def on_virtual_table_highlighted(self, event: VirtualTable.Highlighted) -> None:
        if event.key is not None and event.key != self.selected and self._loaded:
            self._select(event.key)

    def on_virtual_table_selected(self, event: VirtualTable.Selected) -> None:
        self.output.focus()

    # -- actions ---------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Only what applies now is offered (footer) and run (key): Stop while the job
        runs; Rerun when it has finished; Rerun failed when some host failed."""
        job = self.job
        if self.app.screen is not self:
            return False  # under a dialog: not offered in the footer, not run
        if action == "filter":
            return self.focused is not self.filter_input
        if action == "stop":
            return job is not None and job.status in STOPPABLE
        if action == "rerun":
            finished = job is not None and job.status.finished
            return finished and (
                not parameters or not parameters[0] or bool(job and job.failed_hosts())
            )
        return True

    def action_filter(self) -> None:
        """A priority binding (see commands.py): focus at once, so a key typed right
        after `/` lands in the field (in the field, check_action lets `/` be typed)."""
        self.filter_input.display = True
        self.set_focus(self.filter_input)

    async def action_stop(self) -> None:
        try:
            job = await client_of(self).stop_job(self.job_id)
        except OpsError as exc:
            self.notify(str(exc), severity="error")
            return
        self._show_job(job)
        self.notify(f"Stopping job {self.job_id}")

    async def action_rerun(self, failed_only: bool) -> None:
        try:
            job = await client_of(self).rerun_job(self.job_id, failed_only=failed_only)
        except OpsError as exc:
            self.notify(str(exc), severity="error")
            return
        self.app.switch_screen(JobScreen(job.id))

    def action_follow(self) -> None:
        self.output.follow = not self.output.follow
        if self.output.follow:
            self.output.scroll_end(animate=False)
        self.notify("Following output" if self.output.follow else "Not following output")

    def action_close(self) -> None:
        """Esc leaves the filter field, then clears the filter, then goes back."""
        if self.focused is self.filter_input and self.filter_input.value:
            self.hosts_table.focus()
        elif self.filter_input.value or self.filter_input.display:
            self.filter_input.value = ""
            self.filter_input.display = False
        else:
            self.dismiss()
